"""Evaluation: benchmark loaders, a concurrent resumable runner, judges, metrics, reports."""

from .costs import Price, Prices
from .datasets import FORMATS, Item, detect_format, load_dataset
from .judges import JUDGES, Judge, JudgeClient, JudgeParams, Verdict, build_judge
from .judging import JudgeEndpoint, choose_judge
from .metrics import compute_metrics
from .rejudge import rejudge_run
from .report import build_report, write_report
from .rows import ResultRow, read_rows
from .runner import Rollout, RunConfig, RunOutcome, run_eval, select_items, write_metrics
from .store import Shard, merge_runs

__all__ = [
    "FORMATS",
    "JUDGES",
    "Item",
    "Judge",
    "JudgeClient",
    "JudgeEndpoint",
    "JudgeParams",
    "Price",
    "Prices",
    "ResultRow",
    "Rollout",
    "RunConfig",
    "RunOutcome",
    "Shard",
    "Verdict",
    "build_judge",
    "build_report",
    "choose_judge",
    "compute_metrics",
    "detect_format",
    "load_dataset",
    "merge_runs",
    "read_rows",
    "rejudge_run",
    "run_eval",
    "select_items",
    "write_metrics",
    "write_report",
]
