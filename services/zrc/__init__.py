"""zrc as a service: ZeroSpeech sLM21 and ProsAudit evaluation.

`zrc.core` is the pure evaluation core (formats, validation, scoring, leaderboard
aggregates) and imports nothing from the network, storage or CLI layers.
"""

__version__ = "0.1.0"
