"""The policy over the network, token in and token out, in the wire format of vLLM's OpenAI
server (what `trl vllm-serve` runs and TRL's `VLLMClient` speaks): `GET /health`,
`GET /v1/models`, `POST /v1/completions` with token-id prompts, `return_token_ids`,
`return_tokens_as_token_ids` and `logprobs`.

`EndpointChatModel` is the one client rollout workers use, against a real vLLM server
(`--vllm server`) or against `PolicyServer`, which serves the trainer's current policy
(HF generate, or colocated vLLM) on loopback in the same format.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

from ..errors import LLMConnectionError, LLMResponseError
from ..llm.base import ChatRequest, Completion
from .samples import render_prompt
from .sampling import BACKGROUND, Batcher, Sampled, Sampler, completion
from .tokenizers import Tokenizer

__all__ = ["EndpointChatModel", "PolicyServer"]

PRIORITY_HEADER = "X-Sounding-Priority"
"""`background` on a refresh's requests: the policy server serves a step's first (a vLLM
server ignores the header)."""


def _logprobs_json(out: Sampled) -> dict[str, Any]:
    """The completions API's `logprobs` object, tokens named `token_id:N`."""
    names = [f"token_id:{t}" for t in out.ids]
    return {"tokens": names, "token_logprobs": out.logprobs, "text_offset": [],
            "top_logprobs": [{n: lp} for n, lp in zip(names, out.logprobs, strict=True)]}


class PolicyServer:
    """Serves a sampler (the trainer's current policy) as a vLLM-compatible completions
    endpoint. Concurrent requests share the sampler's batches; sampling parameters other
    than `max_tokens` and `n` are the sampler's own (the trainer's temperature)."""

    def __init__(self, sampler: Sampler, *, model_name: str = "policy",
                 tok: Tokenizer | None = None) -> None:
        self.batcher = Batcher(sampler)
        self.model_name, self.tok = model_name, tok
        self._runner: web.AppRunner | None = None
        self.requests = 0
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port); returns the base URL."""
        app = web.Application(client_max_size=64 * 2**20)
        app.add_routes([web.get("/health", self._health), web.get("/v1/models", self._models),
                        web.post("/v1/completions", self._completions)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{_advertised(host)}:{bound[1]}"
        return self.url

    async def aclose(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="")

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": self.model_name, "object": "model"}]})

    async def _completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompts = body.get("prompt")
        if prompts and isinstance(prompts[0], int):
            prompts = [prompts]
        if not prompts or not all(isinstance(p, list) and p for p in prompts):
            return web.json_response({"error": {"message": "`prompt` must be token ids"}},
                                     status=400)
        n, limit = int(body.get("n") or 1), int(body.get("max_tokens") or 16)
        late = request.headers.get(PRIORITY_HEADER) == "background"
        self.requests += 1
        outs = await asyncio.gather(*(self.batcher.sample([int(t) for t in p], limit,
                                                          background=late)
                                      for p in prompts for _ in range(n)))
        choices = [self._choice(i, prompts[i // n], out, body) for i, out in enumerate(outs)]
        return web.json_response({"id": f"cmpl-{self.requests}", "object": "text_completion",
                                  "created": int(time.time()), "model": self.model_name,
                                  "choices": choices})

    def _choice(self, index: int, prompt: list[int], out: Sampled, body: dict[str, Any]
                ) -> dict[str, Any]:
        stops = {*(body.get("stop_token_ids") or []), getattr(self.batcher.sampler, "end", -1)}
        stopped = bool(out.ids) and out.ids[-1] in stops
        return {"index": index, "text": self.tok.decode(out.ids) if self.tok else "",
                "finish_reason": "stop" if stopped else "length",
                "logprobs": _logprobs_json(out) if body.get("logprobs") is not None else None,
                "prompt_token_ids": prompt, "token_ids": out.ids}


def _advertised(host: str) -> str:
    """The address workers reach a server bound to `host` by: for a wildcard, the address
    of the interface that routes outwards (a UDP connect sends nothing)."""
    if host not in ("0.0.0.0", "::", ""):
        return host
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostbyname(socket.gethostname())


class EndpointChatModel:
    """A ChatModel that renders the request into token ids and samples them at a
    vLLM-compatible completions endpoint, keeping the sampled ids and log-probs."""

    def __init__(self, base_url: str, tok: Tokenizer, *, max_new_tokens: int = 1024,
                 temperature: float = 1.0, name: str = "policy") -> None:
        self.base_url, self.tok, self.name = base_url.rstrip("/"), tok, name
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self._session: aiohttp.ClientSession | None = None
        self._served: str | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=30))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def wait_ready(self, timeout: float = 240.0) -> None:
        """Wait for `/health` to answer 200 (a vLLM server takes minutes to load)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with self._http().get(f"{self.base_url}/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError as exc:
                if time.monotonic() > deadline:
                    raise LLMConnectionError(f"no policy endpoint at {self.base_url}: {exc}") \
                        from exc
            if time.monotonic() > deadline:
                raise LLMConnectionError(f"the policy endpoint at {self.base_url} is not ready")
            await asyncio.sleep(0.5)

    async def _model(self) -> str:
        if self._served is None:
            async with self._http().get(f"{self.base_url}/v1/models") as resp:
                self._served = str((await resp.json())["data"][0]["id"])
        return self._served

    async def complete(self, request: ChatRequest) -> Completion:
        prompt = render_prompt(self.tok, request.messages)
        limit = min(self.max_new_tokens, request.sampling.max_tokens)
        ids, lps = await self.sample(prompt, limit)
        return completion(self.tok, prompt, ids, lps)

    async def sample(self, prompt: Sequence[int], limit: int) -> tuple[list[int], list[float]]:
        """One completion of `prompt`: sampled ids and their log-probs."""
        end = self.tok.special_id("<|im_end|>")
        payload = {"model": await self._model(), "prompt": [list(prompt)], "n": 1,
                   "max_tokens": limit, "temperature": self.temperature, "top_p": 1.0,
                   "top_k": 0, "logprobs": 0, "return_token_ids": True,
                   "return_tokens_as_token_ids": True, "stop_token_ids": [end],
                   "skip_special_tokens": False}
        try:
            headers = {PRIORITY_HEADER: "background"} if BACKGROUND.get() else {}
            async with self._http().post(f"{self.base_url}/v1/completions", json=payload,
                                         headers=headers) as resp:
                if resp.status != 200:
                    raise LLMResponseError(f"the policy endpoint answered {resp.status}: "
                                           f"{(await resp.text())[:300]}")
                choice = (await resp.json())["choices"][0]
        except aiohttp.ClientError as exc:
            raise LLMConnectionError(f"the policy endpoint {self.base_url}: {exc}") from exc
        ids = [int(t) for t in choice["token_ids"]]
        # vLLM keeps a stop token id in `token_ids` (only the text drops it).
        return ids, [float(x) for x in choice["logprobs"]["token_logprobs"]]
