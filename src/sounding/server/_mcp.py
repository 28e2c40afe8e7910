"""The MCP server: one tool, `deep_research(question, mode)`, that runs a job and reports
each round as a progress notification. Served over stdio (`sounding mcp`) or mounted at
`/mcp` on the HTTP server (streamable HTTP)."""

from __future__ import annotations

import json
from typing import Literal

from mcp.server.mcpserver import Context, MCPServer

from ..types import JSONObject
from ._jobs import JobManager, ResearchRequest
from ._openai import answer_text

__all__ = ["OWNER_SCOPE_KEY", "build_mcp", "owner_of"]


OWNER_SCOPE_KEY = "sounding.owner"
"""Where the HTTP server's key check leaves the caller's name in the ASGI scope."""


def owner_of(ctx: Context, default: str) -> str:
    """The name of the key that sent this tool call over HTTP (`/mcp`), as the jobs API
    resolves it; `default` over stdio, where the local user is the only caller."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    owner = scope.get(OWNER_SCOPE_KEY) if isinstance(scope, dict) else None
    return owner if isinstance(owner, str) else default


def build_mcp(jobs: JobManager, owner: str = "mcp") -> MCPServer:
    """An MCP server whose tool runs research jobs on `jobs` (stored like any other).

    A job belongs to the API key that called the tool (over `/mcp`), so it shows in that
    key's job list; over stdio, to `owner`."""
    server: MCPServer = MCPServer("sounding", instructions=(
        "deep_research researches a question with web or offline tools over many rounds "
        "and returns a cited answer."))

    @server.tool()
    async def deep_research(question: str, ctx: Context,
                            mode: Literal["react", "iter", "heavy"] = "react") -> str:
        """Research `question` in depth and return the answer with its sources.

        mode: react (one researcher), iter (rebuilds a report each round) or heavy
        (several researchers in parallel, fused).
        """
        job = await jobs.submit(owner_of(ctx, owner), ResearchRequest(question,
                                                                      {"mode": mode}))
        total = float(jobs.settings.budgets.max_rounds)
        result: JSONObject = {}
        async for _seq, data in jobs.follow(job.id):
            event = json.loads(data)
            if event.get("kind") == "round_started" and event.get("branch") is None:
                await ctx.report_progress(float(event["round"]), total,
                                          f"round {event['round']}")
            elif event.get("kind") == "job_finished":
                result = event
        if result.get("status") != "finished":
            raise RuntimeError(f"the research job {job.id} ended {result.get('status')}: "
                               f"{result.get('error')}")
        return answer_text(result)

    return server
