"""The result object of `sounding ask --json` and `sounding.ask()`."""

from __future__ import annotations

from dataclasses import dataclass

from ..trace.trajectory import RunError, Termination, Trajectory
from ..types import JSONObject

__all__ = ["Result"]


@dataclass(frozen=True)
class Result:
    """The answer of a run plus its headline facts; `trajectory` has everything."""

    question: str
    answer: str | None
    termination: Termination | None
    mode: str
    rounds: int
    tool_calls: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    sources: list[str]
    trajectory: Trajectory

    @classmethod
    def from_trajectory(cls, trajectory: Trajectory) -> Result:
        usage = trajectory.usage
        return cls(
            question=trajectory.question,
            answer=trajectory.answer,
            termination=trajectory.termination,
            mode=trajectory.mode,
            rounds=trajectory.rounds,
            tool_calls=trajectory.tool_counts(),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            seconds=trajectory.seconds,
            sources=trajectory.sources(),
            trajectory=trajectory,
        )

    @property
    def error(self) -> RunError | None:
        """Why the run failed (type, message, traceback), when it did."""
        return self.trajectory.error

    def to_dict(self) -> JSONObject:
        """The `--json` object; `error` (type, message) follows `termination`, only when the
        run failed (the traceback stays in `trajectory.error`)."""
        out: JSONObject = {
            "question": self.question,
            "answer": self.answer,
            "termination": self.termination,
        }
        if self.trajectory.error is not None:
            error = self.trajectory.error
            out["error"] = {"type": error.type, "message": error.message}
        out.update({
            "mode": self.mode,
            "rounds": self.rounds,
            "tool_calls": dict(self.tool_calls),
            "usage": {"prompt_tokens": self.prompt_tokens,
                      "completion_tokens": self.completion_tokens},
            "seconds": round(self.seconds, 3),
            "sources": list(self.sources),
            "trajectory": self.trajectory.to_dict(),
        })
        return out
