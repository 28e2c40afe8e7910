"""The verl agent loop against a fake token server: Sounding's loop, token records, masks
and the checker's reward in verl's output shape."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sounding.config import Settings, override_settings
from sounding.train.tokenizers import HFTokenizer, Tokenizer
from sounding.train.verl_loop import SoundingAgentLoop


@dataclass
class TokenOutput:
    token_ids: list[int]
    log_probs: list[float]


class FakeTokenServer:
    """verl's server manager: token ids in, sampled token ids and log-probs out."""

    def __init__(self, tok: Tokenizer, replies: list[str]) -> None:
        self.tok, self.replies = tok, list(replies)
        self.prompts: list[tuple[str, list[int]]] = []

    async def generate(self, *, request_id: str, prompt_ids: list[int],
                       sampling_params: dict[str, Any]) -> TokenOutput:
        self.prompts.append((request_id, prompt_ids))
        ids = [*self.tok.encode(self.replies.pop(0)), self.tok.special_id("<|im_end|>")]
        return TokenOutput(ids, [-0.25] * len(ids))


async def test_agent_loop_returns_masked_tokens_and_reward(settings: Settings,
                                                           tiny: HFTokenizer) -> None:
    call = json.dumps({"name": "search", "arguments": {"query": ["Vienna river"]}})
    replies = [f"<think>search</think>\n<tool_call>\n{call}\n</tool_call>",
               "<think>found</think>\n<answer>Danube</answer>"]
    server = FakeTokenServer(tiny, replies)
    loop = SoundingAgentLoop({"actor_rollout_ref": {"rollout": {"response_length": 100_000}}},
                             server, tiny.tok)
    loop.settings = override_settings(settings, {"mode": "react", "protocol": "tags"})
    out = await loop.run({"temperature": 1.0},
                         raw_prompt=[{"role": "user", "content": "Which river is in Vienna?"}],
                         reward_model={"ground_truth": "Danube"})
    assert out.reward_score == 1.0
    assert len({rid for rid, _ in server.prompts}) == 1  # one rollout, one sticky request id
    assert out.prompt_ids == server.prompts[0][1]
    trained = tiny.decode([t for t, m in zip(out.response_ids, out.response_mask,
                                             strict=True) if m])
    assert trained == "".join(r + "<|im_end|>" for r in replies)
    masked = tiny.decode([t for t, m in zip(out.response_ids, out.response_mask,
                                            strict=True) if not m])
    assert "<tool_response>" in masked and "Danube</answer>" not in masked
    # The second prompt is the first plus the reply and the observation, token for token.
    second = server.prompts[1][1]
    assert second[:len(out.prompt_ids)] == out.prompt_ids
    assert out.response_ids[:len(second) - len(out.prompt_ids)] == second[len(out.prompt_ids):]
    lps = [lp for lp, m in zip(out.response_logprobs, out.response_mask, strict=True) if m]
    assert lps and set(lps) == {-0.25}
