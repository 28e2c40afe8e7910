"""Trajectories (the record of a run) and observers (live views of a run)."""

from .observers import NullObserver, Observer
from .trajectory import (
    SCHEMA_VERSION,
    ModelCallRecord,
    RunError,
    Termination,
    ToolCallRecord,
    Trajectory,
    read_trajectories,
)

__all__ = [
    "SCHEMA_VERSION",
    "ModelCallRecord",
    "NullObserver",
    "Observer",
    "RunError",
    "Termination",
    "ToolCallRecord",
    "Trajectory",
    "read_trajectories",
]
