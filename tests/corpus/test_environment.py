"""The `offline` environment answers search and visit from a corpus."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from sounding.config import Settings
from sounding.corpus import Corpus
from sounding.env import build_environment
from sounding.env.offline import offline_environment
from sounding.llm.testing import ScriptedModel
from sounding.providers.sandbox import bwrap_path
from sounding.tools.base import ToolContext


async def test_offline_environment_on_built_corpus(
        settings: Settings, tmp_path: Path, make_tiny: Callable[..., Corpus]) -> None:
    make_tiny(tmp_path / "c").close()
    model = ScriptedModel(['{"rational": "r", "evidence": "4.37 light-years", '
                           '"summary": "It is 4.37 light-years away."}'])
    env = build_environment(dataclasses.replace(settings, corpus=tmp_path / "c"),
                            summary_model=model)
    assert env.name == "offline"
    # The sandboxed interpreter needs no network, so offline offers it wherever bwrap runs.
    sandboxed = ["PythonInterpreter"] if bwrap_path() else []
    assert list(env.names()) == ["search", "visit", *sandboxed]
    context = ToolContext()
    stats = context.stats
    out = await env.tools["search"]({"query": ["closest star"]}, context)
    assert "[Alpha Centauri](https://example.org/alpha)" in out.text
    assert out.sources[0] == "https://example.org/alpha"
    assert stats.providers == ["corpus"] and stats.requests == 1
    out = await env.tools["visit"](
        {"url": ["http://example.org/alpha/", "https://example.org/missing"],
         "goal": "distance"}, ToolContext())
    assert "Evidence in page: \n4.37 light-years" in out.text
    assert "could not be accessed" in out.text
    assert out.sources == ("http://example.org/alpha/",)
    model.assert_all_used()
    await env.aclose()


async def test_default_environment_uses_vital_corpus(settings: Settings,
                                                     vital_cache: Path) -> None:
    env = offline_environment(dataclasses.replace(settings, cache_dir=vital_cache),
                              summary_model=None)
    out = await env.tools["search"]({"query": "Eiffel Tower Paris"}, ToolContext())
    assert "https://en.wikipedia.org/wiki/Eiffel_Tower" in out.text
    out = await env.tools["visit"]({"url": "https://en.wikipedia.org/wiki/Eiffel_Tower",
                                    "goal": "height"}, ToolContext())
    assert "Evidence in page" in out.text and "could not be accessed" not in out.text
    await env.aclose()


def test_closed_corpus_refuses(tmp_path: Path, make_tiny: Callable[..., Corpus]) -> None:
    import pytest

    from sounding.errors import CorpusError

    corpus = make_tiny(tmp_path / "c")
    corpus.close()
    with pytest.raises(CorpusError):
        corpus.search("alpha")
    with pytest.raises(CorpusError, match="no corpus"):
        Corpus.open(tmp_path / "nothing")
