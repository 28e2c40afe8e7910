"""A hostile corpus: links out of the source, bad bytes, broken gzip, huge documents, a killed
build's leftovers and a damaged database file."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from sounding.corpus import Corpus, CorpusBuilder, SourceDoc
from sounding.corpus._text import match_expression, split_passages
from sounding.corpus.builder import Skipped
from sounding.corpus.sources import directory_documents, jsonl_documents
from sounding.errors import CorpusError


def _row(url: str, text: str) -> bytes:
    return json.dumps({"url": url, "title": url, "text": text}).encode() + b"\n"


def test_directory_source_never_follows_links_out_of_its_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("# Secret\nthe host's private notes")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "doc.txt").write_text("# Doc\nreal content")
    (root / "sub" / "inner.md").write_text("# Inner\nmore content")
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "leakdir").symlink_to(outside, target_is_directory=True)
    (root / "alias.txt").symlink_to(root / "doc.txt")  # a link inside the root is fine
    (root / "loop.txt").symlink_to(root / "loop.txt")
    items = list(directory_documents(root))
    texts = " ".join(i.text for i in items if isinstance(i, SourceDoc))
    assert "private notes" not in texts
    assert texts.count("real content") == 2 and "more content" in texts
    skipped = {Path(i.path).name: i.reason for i in items if isinstance(i, Skipped)}
    assert "out of the source" in skipped["leak.txt"] and "loop.txt" in skipped


def test_bad_bytes_cost_only_their_line(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(
        _row("https://e.org/1", "first document")
        + b'{"url": "https://e.org/2", "title": "t", "text": "bad \xff byte"}\n'
        + b'{"url": "https://e.org/3", "title": "t", "text": "lone \\ud800 surrogate"}\n'
        + b"[" * 100_000 + b"\n"
        + _row("https://e.org/4", "fourth document"))
    items = list(jsonl_documents(path))
    docs = [i.url for i in items if isinstance(i, SourceDoc)]
    assert docs == ["https://e.org/1", "https://e.org/4"]
    reasons = {i.path.rsplit(":", 1)[1]: i.reason for i in items if isinstance(i, Skipped)}
    assert "invalid UTF-8" in reasons["2"] and "surrogate" in reasons["3"]
    assert "nested" in reasons["4"] or "invalid JSON" in reasons["4"]


def test_a_surrogate_never_reaches_the_build(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(_row("https://e.org/1", "fine text about basalt")
                     + b'{"url": "https://e.org/\\udfff", "title": "x", "text": "y"}\n')
    report = CorpusBuilder(tmp_path / "out").build([("docs", jsonl_documents(path))])
    assert report is not None and report.documents == 1
    assert [s.path.rsplit(":", 1)[1] for s in report.skipped] == ["2"]


def test_a_corrupt_gzip_is_reported_for_that_file_only(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl.gz"
    good.write_bytes(gzip.compress(_row("https://e.org/g", "good gzip")))
    whole = gzip.compress(b"".join(_row(f"https://e.org/{i}", "x" * 500) for i in range(50)))
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(whole[: len(whole) // 2] + b"\x00garbage" * 10)
    not_gzip = tmp_path / "plain.jsonl.gz"
    not_gzip.write_bytes(b"this is not gzip at all")
    sources = [(p.name, jsonl_documents(p)) for p in (bad, not_gzip, good)]
    report = CorpusBuilder(tmp_path / "out").build(sources)
    assert report is not None
    with Corpus.open(tmp_path / "out") as corpus:
        assert corpus.get("https://e.org/g") is not None
    failures = [s for s in report.skipped if "unreadable" in s.reason]
    assert {Path(s.path.split(":")[0]).name for s in failures} == {"bad.jsonl.gz",
                                                                  "plain.jsonl.gz"}


@pytest.mark.parametrize("text", [
    "word " * 2_000_000,                 # 10 MB with spaces and no sentence end
    "x" * 10_000_000,                    # 10 MB without a single space
    ("\n" + " " * 5000) * 2000,          # whitespace runs
])
def test_splitting_a_huge_document_is_linear(text: str) -> None:
    # Work bound: compare with a document 1/8 the size; linear is ~8x, quadratic ~64x.
    small = text[: len(text) // 8]
    t0 = time.process_time()
    small_passages = split_passages(small)
    t1 = time.process_time()
    passages = split_passages(text)
    t2 = time.process_time()
    assert all(len(p) <= 1400 for p in passages)
    assert len(passages) >= 7 * len(small_passages) - 8 or not small.strip()
    assert (t2 - t1) <= 24 * max(t1 - t0, 0.005)


def test_query_terms_are_deduplicated_linearly_and_capped() -> None:
    huge = " ".join(f"w{i}" for i in range(200_000))
    expression = match_expression(huge + " " + huge)
    assert expression is not None and expression.count(" OR ") == 23  # 24 terms at most
    assert match_expression("x y x y x") == '"x" OR "y"'


def test_stale_temporaries_of_a_killed_build_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".corpus.sqlite.deadbeef.tmp", out / ".build_report.json.cafe.tmp"]
    for path in stale:
        path.write_bytes(b"left by a build that was killed" * 1000)
    CorpusBuilder(out).build([("tiny", [SourceDoc(url="https://e.org/a", title="A",
                                                  text="alpha text")])])
    assert not any(p.exists() for p in stale)
    assert list(out.glob(".*.tmp")) == []


def test_a_damaged_database_file_is_a_corpus_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    docs = [SourceDoc(url=f"https://e.org/{i}", title=f"T{i}", text=f"basalt column {i} " * 300)
            for i in range(300)]
    CorpusBuilder(out).build([("docs", docs)])
    db = next(out.glob("*.sqlite"))
    data = bytearray(db.read_bytes())
    page = 4096
    for start in range(page * 3, len(data) - page, page * 2):  # every other page scrambled
        data[start + 100:start + 400] = b"\xa5" * 300
    db.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match=r"damaged|cannot read"), Corpus.open(out) as corpus:
        for i in range(300):
            corpus.get(f"https://e.org/{i}")
        corpus.search("basalt column", k=10)
        corpus.stats()
