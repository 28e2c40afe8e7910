"""The `offline` toolset: `search` and `visit` answered from a local corpus, and the
sandboxed PythonInterpreter (it needs no network) where bubblewrap is available."""

from __future__ import annotations

from ..config import Settings
from ..corpus.environment import open_corpus, search_backend
from ..llm.base import ChatModel
from ..tools.base import Tool
from ..tools.search import SearchTool
from ..tools.visit import VisitTool
from .base import Environment, StaticToolset
from .web import python_tool

__all__ = ["offline_environment", "offline_toolset"]


def offline_toolset(settings: Settings, *, summary_model: ChatModel | None) -> StaticToolset:
    """The tools the corpus really provides, plus the interpreter and the user's files."""
    from ..corpus.backends import CorpusPageBackend

    corpus = open_corpus(settings)
    backend = search_backend(corpus, settings)  # closes the corpus itself if it fails
    tools: dict[str, Tool] = {
        "search": SearchTool(backend),
        "visit": VisitTool(CorpusPageBackend(corpus), summary_model),
    }
    try:
        python = python_tool(settings, required=False)
    except BaseException:
        corpus.close()
        raise
    if python is not None:
        tools["PythonInterpreter"] = python
    if settings.web.files_dir is not None:  # the user's own files (GAIA attachments) are local
        from ..tools.parse_file import ParseFileTool

        tools["parse_file"] = ParseFileTool(settings.web.files_dir)

    async def close() -> None:
        corpus.close()

    return StaticToolset("offline", tools, [close])


def offline_environment(settings: Settings, *, summary_model: ChatModel | None) -> Environment:
    """The `offline` environment: one toolset (see `offline_toolset`)."""
    return Environment("offline", toolsets=[offline_toolset(settings,
                                                             summary_model=summary_model)])
