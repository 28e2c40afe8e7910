"""Incremental and atomic builds, concurrent readers and builders, CJK search."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sounding.corpus import Corpus, CorpusBuilder, SourceDoc
from sounding.corpus.store import DB_NAME


def docs(n: int, *, version: str = "v1") -> list[SourceDoc]:
    return [SourceDoc(url=f"https://ex.org/doc/{i}", title=f"Document {i}",
                      text=f"Body of document number {i}, {version}. Keyword{i % 7} here.")
            for i in range(n)]


def test_incremental_rebuild_adds_only_new_or_changed(tmp_path: Path) -> None:
    out = tmp_path / "c"
    first = CorpusBuilder(out).build([("gen", docs(20))])
    assert first is not None and (first.added, first.updated) == (20, 0)
    inode = (out / DB_NAME).stat().st_ino
    same = CorpusBuilder(out).build([("gen", docs(20))])
    assert same is not None and (same.added, same.updated, same.unchanged) == (0, 0, 20)
    assert (out / DB_NAME).stat().st_ino == inode  # nothing changed: nothing published
    changed = docs(25)
    changed[3] = dataclasses.replace(changed[3], text="Rewritten text about zeppelins.")
    again = CorpusBuilder(out).build([("gen", changed)])
    assert again is not None and (again.added, again.updated, again.unchanged) == (5, 1, 19)
    with Corpus.open(out) as corpus:
        assert corpus.stats().documents == 25
        assert corpus.stats().passages == 25
        assert corpus.search("zeppelins")[0].url == "https://ex.org/doc/3"
        assert not [h for h in corpus.search("Body number", k=30)
                    if h.url == "https://ex.org/doc/3"]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("engine", ["fts5", "tantivy"])
def test_readers_see_a_whole_corpus_during_rebuild(tmp_path: Path, engine: str) -> None:
    out = tmp_path / "c"
    CorpusBuilder(out, engine=engine).build([("gen", docs(200))])
    reader = Corpus.open(out)
    assert reader.engine == engine
    started, done, read_mid_build = threading.Event(), threading.Event(), threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def slow_source() -> Iterator[SourceDoc]:
        for i, d in enumerate(docs(400, version="v2")):
            if i == 100:  # hold the build half-way until readers have read
                started.set()
                assert read_mid_build.wait(timeout=30)
            yield d

    def read() -> None:
        try:
            started.wait()
            while not done.is_set():
                fresh = Corpus.open(out)
                seen.append(len(fresh.search("Body document", k=1000)))
                fresh.close()
                seen.append(len(reader.search("Body document", k=1000)))
                read_mid_build.set()
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    CorpusBuilder(out, engine=engine).build([("gen", slow_source())])
    done.set()
    for t in threads:
        t.join()
    assert not errors
    assert seen[:2] == [200, 200]  # read while the build was half-way
    assert set(seen) <= {200, 400}
    assert len(reader.search("Body document", k=1000)) == 200  # its old, consistent view
    reader.close()
    with Corpus.open(out) as corpus:
        assert corpus.stats().documents == 400


def test_concurrent_first_builders_build_once(tmp_path: Path) -> None:
    out = tmp_path / "c"
    consumed: list[int] = []
    barrier = threading.Barrier(4)

    def source() -> Iterator[SourceDoc]:
        consumed.append(1)
        yield from docs(50)

    def first_use() -> None:
        barrier.wait()
        CorpusBuilder(out).build([("gen", source())], only_if_missing=True)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(consumed) == 1
    with Corpus.open(out) as corpus:
        assert corpus.stats().documents == 50


def test_chinese_and_japanese_queries(tiny: Corpus, make_tiny: Callable[..., Corpus],
                                      tmp_path: Path) -> None:
    hits = tiny.search("北京")
    assert hits and hits[0].title == "北京"
    assert "首都" in hits[0].snippet
    assert tiny.search("中华人民共和国的首都")[0].url == "https://example.org/zh/beijing"
    assert tiny.search("首")[0].title == "北京"
    assert tiny.search("政治 文化")[0].title == "北京"
    assert tiny.search("上海") == []
    corpus = make_tiny(tmp_path / "ja", [
        SourceDoc(url="https://ja.example/tokyo", title="東京都",
                  text="東京都は日本の首都であり、世界有数の大都市である。", lang="ja"),
        SourceDoc(url="https://ja.example/kyoto", title="京都市",
                  text="京都市は日本の古都で、多くの寺院がある。", lang="ja"),
        SourceDoc(url="https://en.example/x", title="Mixed", text="Tokyo is 東京 in Japanese."),
    ])
    assert corpus.search("寺院")[0].title == "京都市"
    assert corpus.search("日本の首都")[0].title == "東京都"
    assert {h.title for h in corpus.search("東京")} >= {"東京都", "Mixed"}
    corpus.close()


def test_long_documents_split_into_passages_and_dedupe(
        tmp_path: Path, make_tiny: Callable[..., Corpus]) -> None:
    text = "\n\n".join(f"Paragraph {i} mentions the aurora borealis and magnetism. " * 5
                       for i in range(20))
    corpus = make_tiny(tmp_path / "long", [
        SourceDoc(url="https://ex.org/long", title="Aurora", text=text),
        SourceDoc(url="https://ex.org/short", title="Magnetism", text="Magnetism is a force."),
    ])
    assert corpus.stats().passages > 5
    hits = corpus.search("aurora borealis magnetism", k=10)
    assert [h.url for h in hits] == ["https://ex.org/long", "https://ex.org/short"]
    doc = corpus.get("https://ex.org/long")
    assert doc is not None and doc.text == text
    corpus.close()


def test_an_empty_first_build_can_be_updated(tmp_path: Path) -> None:
    # A first build whose sources gave nothing still writes the schema version, so the
    # next build updates it instead of calling it a corpus of another version.
    out = tmp_path / "c"
    empty = CorpusBuilder(out, engine="fts5").build([("none", [])])
    assert empty is not None and empty.documents == 0
    later = CorpusBuilder(out, engine="fts5").build([("gen", docs(3))])
    assert later is not None and (later.added, later.documents) == (3, 3)
    with Corpus.open(out) as corpus:
        assert corpus.search("Keyword1")[0].url == "https://ex.org/doc/1"
