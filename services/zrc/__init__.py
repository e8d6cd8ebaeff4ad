"""zrc as a service: ZeroSpeech sLM21 and ProsAudit evaluation.

`zrc.core` is the pure evaluation core (formats, validation, scoring, leaderboard
aggregates) and imports nothing from the network, storage or CLI layers.

``zrc.evaluate(benchmark, folder)`` is the Python API (:mod:`zrc.api`); it is imported on first use so that
``import zrc`` stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["evaluate", "Result", "ScoreTable", "ZrcError", "__version__"]


def __getattr__(name: str):
    if name in ("evaluate", "Result", "ScoreTable", "ZrcError", "headline"):
        from zrc import api

        return getattr(api, name)
    raise AttributeError(f"module 'zrc' has no attribute {name!r}")
