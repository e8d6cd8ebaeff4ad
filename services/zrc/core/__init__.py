"""Pure evaluation core: no gRPC, S3 or CLI imports live here.

Modules
-------
table       typed column tables with pandas-compatible CSV reading/writing
findings    structured validation findings
benchmarks  benchmark/task/set catalogue (sLM21, prosAudit)
dataset     official dataset folders/zips -> in-memory gold model
submission  submission sources (dir/zip), params.yaml, meta.yaml, score text files
validation  every rule of the reference, and what it misses
scoring     one generic pair scorer (lexical/syntactic/prosaudit) and the semantic scorer
leaderboard reference-schema leaderboard entries from full-precision results
generate    deterministic synthetic datasets + submissions
pipeline    validate + score a submission against a dataset in one call
"""

# Bumped whenever a change can alter a score: results are cached by scorer version.
SCORER_VERSION = "1.1"  # 1.1: summaries carry bootstrap intervals (score_confidence.csv)
