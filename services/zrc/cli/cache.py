"""``zrc cache:prune``: shrink the embedded store (``ZRC_HOME``) to a size budget now.

The embedded stack already prunes at the end of each session (keeping what that session used); this
command is for a user who wants the space back now, or a smaller store (``--budget 0`` drops every cache:
archives, pooled embeddings, cached results). Datasets, job records and leaderboards stay.
"""

from __future__ import annotations

from zrc.storage.prune import BudgetError, budget_from_env, parse_size, prune_store

from . import home, output


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def cmd_cache_prune(a) -> int:
    try:
        budget = parse_size(a.budget, "--budget") if a.budget is not None else budget_from_env()
    except BudgetError as exc:
        output.error(str(exc))
        return 2
    store = home.home() / "store"
    if not store.is_dir():
        report = {"budget": budget, "before": 0, "after": 0, "freed": 0, "removed": 0}
    else:
        report = prune_store(store, budget).to_dict()
    if a.json:
        output.print_json({"home": str(home.home()), **report})
    else:
        output.say(f"{home.home()}: caches {_mb(report['before'])} -> {_mb(report['after'])} "
                   f"(budget {_mb(budget)}); {report['removed']} file(s) removed, {_mb(report['freed'])} freed")
    return 0


def add_parser(add) -> None:
    sp = add("cache:prune", cmd_cache_prune, "prune ZRC_HOME's caches to a size budget, least recently used first")
    sp.add_argument("--budget", help="size to keep, e.g. 500M or 0 (default ZRC_HOME_BUDGET, else 2G)")
