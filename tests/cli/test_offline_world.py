"""The offline world end to end: `ask --corpus DIR`, and `ask --env web` against `corpus serve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sounding.corpus import Corpus, CorpusBuilder, SourceDoc
from sounding.corpus.server import CorpusServer
from sounding.llm.testing import ScriptedServer

from .test_ask import router, run_cli, tags_call

LIGHTHOUSE = "https://harbour.example/lighthouse"
DOCS = [
    SourceDoc(url=LIGHTHOUSE, title="Kestrel Point Lighthouse",
              text="Kestrel Point Lighthouse was lit in 1871 and automated in 1989. "
                   "Its keeper for forty years was Ada Marlowe.", source="Harbour Archive"),
    SourceDoc(url="https://harbour.example/ferry", title="Harbour ferry",
              text="The harbour ferry has crossed the bay every hour since 1902.",
              source="Harbour Archive"),
]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("harbour")
    CorpusBuilder(out, name="harbour").build([("harbour", DOCS)])
    return out


def turns() -> list[object]:
    return [
        tags_call("search", query=["Kestrel Point Lighthouse keeper"]),
        tags_call("visit", url=[LIGHTHOUSE], goal="who kept the lighthouse"),
        "<answer>Ada Marlowe</answer>",
    ]


def check(result: dict[str, object]) -> dict[str, object]:
    assert result["answer"] == "Ada Marlowe", result
    assert result["tool_calls"] == {"search": 1, "visit": 1}
    traj = result["trajectory"]
    assert isinstance(traj, dict)
    search, visit = traj["tool_calls"]
    assert f"[Kestrel Point Lighthouse]({LIGHTHOUSE})" in search["observation"]
    assert visit["observation"].startswith(f"The useful information in {LIGHTHOUSE}")
    assert "could not be accessed" not in visit["observation"]
    return traj


def test_ask_on_a_built_corpus(corpus_dir: Path, tmp_path: Path) -> None:
    with ScriptedServer.repeat(router(turns())) as llm:
        proc = run_cli(["ask", "Who kept Kestrel Point Lighthouse?", "--json", "--corpus",
                        str(corpus_dir)],
                       {"SOUNDING_BASE_URL": llm.base_url, "SOUNDING_MODEL": "m"}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    traj = check(json.loads(proc.stdout))
    assert traj["tool_calls"][0]["provider"] == "corpus"  # type: ignore[index]


@pytest.fixture
def corpus_server(corpus_dir: Path) -> Iterator[CorpusServer]:
    corpus = Corpus.open(corpus_dir)
    server = CorpusServer(corpus, "127.0.0.1", 0).start()
    yield server
    server.close()
    corpus.close()


def test_web_env_against_corpus_serve(corpus_server: CorpusServer, tmp_path: Path) -> None:
    env = {
        "SOUNDING_ENV": "web",
        "SOUNDING_WEB__SEARCH": "searxng",
        "SOUNDING_WEB__SEARXNG_URL": corpus_server.url,
        "SOUNDING_WEB__FETCH": "jina",
        "SOUNDING_WEB__JINA_URL": corpus_server.url,
        "SOUNDING_WEB__SCHOLAR": "arxiv",
        "SOUNDING_WEB__NO_CACHE": "true",
        "SOUNDING_CACHE_DIR": str(tmp_path / "cache"),
    }
    with ScriptedServer.repeat(router(turns())) as llm:
        proc = run_cli(["ask", "Who kept Kestrel Point Lighthouse?", "--json"],
                       {**env, "SOUNDING_BASE_URL": llm.base_url, "SOUNDING_MODEL": "m"},
                       tmp_path)
    assert proc.returncode == 0, proc.stderr
    traj = check(json.loads(proc.stdout))
    providers = [t["provider"] for t in traj["tool_calls"]]  # type: ignore[index]
    assert providers == ["searxng", "jina"]


def test_corpus_search_flag_is_checked(corpus_dir: Path, tmp_path: Path) -> None:
    proc = run_cli(["ask", "q", "--corpus", str(corpus_dir), "--corpus-search", "fuzzy"],
                   {"SOUNDING_BASE_URL": "http://127.0.0.1:9/v1", "SOUNDING_MODEL": "m"},
                   tmp_path)
    assert proc.returncode == 2
    assert "--corpus-search" in proc.stderr and "'bm25', 'dense', 'hybrid'" in proc.stderr
