"""RL rollouts through an executor (`--executor local|ray`): each worker opens a recipe that
reaches the policy over HTTP; the trainer grades what comes back and builds the batch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ExecutorSettings, Settings
from ..executors import OpenRollout
from ..trace.trajectory import Trajectory
from .endpoint import EndpointChatModel
from .rollouts import RLItem, agent_rollout, single_turn_rollout

__all__ = ["Dispatch", "EndpointRollouts"]


@dataclass(frozen=True)
class EndpointRollouts:
    """The recipe a worker opens: the tokenizer, a client of the policy endpoint, and
    Sounding's loop (`settings` names the mode; None: one plain turn). Picklable."""

    tokenizer: Path
    settings: Settings | None = None
    endpoint: str = ""
    """The policy's base URL; `run_rl` fills it in once the endpoint is up."""
    max_new_tokens: int = 1024
    temperature: float = 1.0

    async def open(self) -> OpenRollout[RLItem]:
        from .models import load_tokenizer

        tok = load_tokenizer(self.tokenizer)
        model = EndpointChatModel(self.endpoint, tok, max_new_tokens=self.max_new_tokens,
                                  temperature=self.temperature)
        await model.wait_ready()
        rollout = (single_turn_rollout(model) if self.settings is None
                   else agent_rollout(self.settings, model))

        async def run(item: RLItem, index: int) -> Trajectory:
            return await rollout(item)

        return OpenRollout(run, model.aclose)

    def for_cluster(self, limiter: str) -> EndpointRollouts:
        if self.settings is None:
            return self
        web = dataclasses.replace(self.settings.web, shared_limiter=limiter)
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, web=web))


@dataclass(frozen=True)
class Dispatch:
    """How `run_rl` runs rollouts when not in its own process: the recipe, the executor,
    and where the trainer serves its policy when vLLM does not (`host`, loopback by
    default; a cluster's workers need an address they can reach)."""

    recipe: EndpointRollouts
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    host: str = "127.0.0.1"
