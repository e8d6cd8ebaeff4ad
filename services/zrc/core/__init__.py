"""Pure evaluation core: no gRPC, S3 or CLI imports live here.

Formats, validation rules, scoring math, leaderboard entries, the catalogue, job records and the one error
vocabulary (errors.py). One line per module: the code map in docs/architecture.md (kept there only, so that two
lists cannot disagree).
"""

# Bumped whenever a change can alter a score: results are cached by scorer version.
SCORER_VERSION = "1.1"  # 1.1: summaries carry bootstrap intervals (score_confidence.csv)
