"""The tantivy BM25 engine: builds, incremental and atomic updates, parity with FTS5,
and the pre-forked multi-worker server."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sounding.corpus import Corpus, CorpusBuilder, SourceDoc
from sounding.corpus.store import DB_NAME
from sounding.corpus.tantivy_index import ENGINE_DIR

pytest.importorskip("tantivy")


def docs(n: int, *, version: str = "v1") -> list[SourceDoc]:
    return [SourceDoc(url=f"https://ex.org/doc/{i}", title=f"Document {i}",
                      text=f"Body of document number {i}, {version}. Keyword{i % 7} here.")
            for i in range(n)]


def versions(out: Path) -> list[str]:
    return sorted(p.name for p in (out / ENGINE_DIR).iterdir())


def test_tantivy_build_search_and_arbitrary_text(tmp_path: Path) -> None:
    out = tmp_path / "c"
    report = CorpusBuilder(out, engine="tantivy").build([("gen", [*docs(30), SourceDoc(
        url="https://ex.org/zeppelin", title="Zeppelin airships",
        text="Rigid airships were built by the Zeppelin company before the war.",
        source="Example")])])
    assert report is not None and report.engine == "tantivy"
    with Corpus.open(out) as corpus:
        assert corpus.engine == "tantivy"
        stats = corpus.stats()
        assert stats.engine == "tantivy" and stats.size_bytes > (out / DB_NAME).stat().st_size
        hit = corpus.search("airship built by zeppelins")[0]  # stems: airship(s), zeppelin(s)
        assert (hit.url, hit.title, hit.source) == ("https://ex.org/zeppelin",
                                                    "Zeppelin airships", "Example")
        assert "Rigid airships" in hit.snippet
        assert corpus.search_ids("keyword3 document", k=3)
        for text in ['"unbalanced', "a AND OR NOT -x", "title:foo^3 *", "((", "   ", "the of",
                     "ÉCOLE naïve", "\x00\ud800", "💥" * 50, "x " * 500]:
            assert isinstance(corpus.search(text), list)
        assert corpus.search("the of")  # stopwords alone still search
        assert corpus.search("nothinglikethis") == []


def test_tantivy_incremental_rebuild(tmp_path: Path) -> None:
    out = tmp_path / "c"
    CorpusBuilder(out, engine="tantivy").build([("gen", docs(20))])
    first = versions(out)
    same = CorpusBuilder(out).build([("gen", docs(20))])  # auto keeps tantivy
    assert same is not None and same.unchanged == 20 and versions(out) == first
    changed = docs(25)
    changed[3] = dataclasses.replace(changed[3], text="Rewritten text about zeppelins.")
    again = CorpusBuilder(out).build([("gen", changed)])
    assert again is not None and (again.added, again.updated, again.engine) == (5, 1, "tantivy")
    with Corpus.open(out) as corpus:
        assert corpus.engine == "tantivy"
        assert corpus.search("zeppelins")[0].url == "https://ex.org/doc/3"
        urls = [h.url for h in corpus.search("Body number", k=30)]
        assert len(urls) == 24 and "https://ex.org/doc/3" not in urls
    CorpusBuilder(out).build([("gen", [*changed, *docs(26)[25:]])])
    assert len(versions(out)) == 2  # the published version and the one before it
    fts = CorpusBuilder(out, engine="fts5").build([])
    assert fts is not None and fts.engine == "fts5"
    with Corpus.open(out) as corpus:
        assert corpus.engine == "fts5"
        assert corpus.search("zeppelins")[0].url == "https://ex.org/doc/3"


def test_missing_index_falls_back_to_fts5(tmp_path: Path) -> None:
    out = tmp_path / "c"
    CorpusBuilder(out, engine="tantivy").build([("gen", docs(10))])
    shutil.rmtree(out / ENGINE_DIR)
    with Corpus.open(out) as corpus:
        assert corpus.engine == "fts5"
        assert corpus.search("keyword4")[0].url == "https://ex.org/doc/4"


@pytest.fixture(scope="module")
def vital_pair(vital: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Corpus, Corpus]]:
    """Copies of the session's vital corpus, one switched to each engine."""
    pair = []
    for engine in ("fts5", "tantivy"):
        out = tmp_path_factory.mktemp(f"vital-{engine}")
        shutil.copyfile(vital.db_path, out / DB_NAME)
        report = CorpusBuilder(out, engine=engine).build([])
        assert report is not None and report.engine == engine and report.added == 0
        pair.append(Corpus.open(out))
    yield pair[0], pair[1]
    for corpus in pair:
        corpus.close()


@pytest.mark.parametrize(("query", "title"), [
    ("Alan Turing", "Alan Turing"),
    ("theory of general relativity Einstein", "General relativity"),
    ("capital city of France", "Paris"),
    ("photosynthesis in plants chlorophyll", "Photosynthesis"),
    ("largest ocean on Earth", "Pacific Ocean"),
])
def test_engines_agree_on_obvious_answers(vital_pair: tuple[Corpus, Corpus], query: str,
                                          title: str) -> None:
    fts5, tantivy = vital_pair
    assert (fts5.engine, tantivy.engine) == ("fts5", "tantivy")
    for corpus in vital_pair:
        titles = [h.title for h in corpus.search(query, k=5)]
        assert title in titles, (corpus.engine, titles)


def test_server_with_workers(vital_pair: tuple[Corpus, Corpus]) -> None:
    code = "from sounding.cli.corpus import app; app()"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(vital_pair[1].path),
                             "--port", "0", "--workers", "2"], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match and "2 workers" in line, line
        pids: set[int] = set()
        for _ in range(200):  # fresh connections until both workers have answered
            with httpx.Client(base_url=match.group(0)) as client:
                pids.add(client.get("/health").json()["pid"])
                r = client.get("/search", params={"q": "Alan Turing", "format": "json"})
                assert r.json()["results"][0]["url"] == "https://en.wikipedia.org/wiki/Alan_Turing"
                serper = client.post("/search", json={"q": "Pacific Ocean", "num": 3}).json()
                assert serper["organic"][0]["title"] == "Pacific Ocean"
            if len(pids) == 2:
                break
        assert len(pids) == 2 and proc.pid not in pids
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
    for pid in pids:  # the workers went with the parent
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status").read_text().lower()


def test_each_documents_best_passage_from_the_table_or_the_database(
        vital_pair: tuple[Corpus, Corpus], monkeypatch: pytest.MonkeyPatch) -> None:
    """The passage -> document table in memory picks the same hits as the database."""
    from sounding.corpus import store

    _, tantivy = vital_pair
    queries = ["Alan Turing", "capital city of France", "largest ocean on Earth",
               "Roman Empire fall", "Beethoven symphony", "printing press Gutenberg"]
    from_table = [tantivy.search(q, k=10) for q in queries]
    assert all(len({h.url for h in hits}) == len(hits) == 10 for hits in from_table)
    monkeypatch.setattr(store, "OWNER_TABLE_MAX", 0)
    with Corpus.open(tantivy.path) as fresh:
        assert [fresh.search(q, k=10) for q in queries] == from_table
        assert fresh._owners == {next(iter(fresh._owners)): None}  # the database's path


def test_a_new_index_version_gets_its_own_passage_table(tmp_path: Path) -> None:
    """A thread that opens the corpus after an update sees the new passages' documents."""
    import threading

    out = tmp_path / "c"
    CorpusBuilder(out, engine="tantivy").build([("gen", docs(20))])
    with Corpus.open(out) as corpus:
        assert corpus.search("keyword3")[0].url.startswith("https://ex.org/doc/")
        changed = [*docs(20), SourceDoc(url="https://ex.org/doc/new", title="New",
                                        text="A text about zeppelins and airships.")]
        CorpusBuilder(out).build([("gen", changed)])
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.extend(
            h.url for h in corpus.search("zeppelins airships")))
        reader.start()
        reader.join()
        assert found[:1] == ["https://ex.org/doc/new"]
        assert len(corpus._owners) == 2
