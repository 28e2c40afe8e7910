"""Every loader: the real benchmark files (counts, fields, a hash) and generated files."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from sounding.errors import DatasetError
from sounding.eval.datasets import detect_format, load_dataset
from sounding.eval.datasets._crypto import browsecomp_decrypt, xbench_decrypt

from .helpers import REAL, browsecomp_encrypt, xor_encrypt

needs_real = pytest.mark.skipif(not REAL.is_dir(),
                                reason=f"real benchmark files not found at {REAL}")


def digest(items: list) -> str:  # type: ignore[type-arg]
    text = "\n".join(f"{i.id}\t{i.question}\t{i.answer}" for i in items)
    return hashlib.sha256(text.encode()).hexdigest()


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@needs_real
@pytest.mark.parametrize(("name", "fmt", "count", "sha"), [
    ("xbench-deepsearch-2505.csv", "xbench", 100,
     "d2f2fad155412c989597b46e5e7cdd08e694c0c3479e83fcf95918002fbe0fc0"),
    ("xbench-deepsearch-2510.csv", "xbench", 100,
     "8e46e8a02a95596e6e4f7244d77fde1db445d554fec36e337da3a77a41c4f5a4"),
    ("browsecomp-zh-encrypted.xlsx", "browsecomp-zh", 289,
     "cf360641d3e654bb3508c7340208037b9ee4e8b25ed28c1e3052f15ad85525e2"),
    ("webwalkerqa-test.json", "webwalkerqa", 680,
     "038046f6f614217202868860a3b04851de53d14d793a63fd3f1c8a2ba3a098ce"),
])
def test_real_files(name: str, fmt: str, count: int, sha: str) -> None:
    path = REAL / name
    assert detect_format(path) == fmt
    got, items = load_dataset(path)
    assert got == fmt and len(items) == count
    assert len({i.id for i in items}) == count
    assert all(i.question.strip() and i.answer.strip() for i in items)
    assert digest(items) == sha  # decrypted content, checked without printing it
    if fmt != "webwalkerqa":  # the Chinese sets really decrypt to Chinese
        assert sum(has_cjk(i.question) for i in items) >= 0.9 * count
    if fmt == "xbench":
        assert all(i.id.isdigit() for i in items)
        assert sum(bool(i.metadata["reference_steps"]) for i in items) >= 0.9 * count
    if fmt == "browsecomp-zh":
        assert all(has_cjk(str(i.metadata["topic"])) for i in items)
    if fmt == "webwalkerqa":
        assert {"root_url", "difficulty_level", "lang"} <= set(items[0].metadata)


def test_decrypt_schemes_differ() -> None:
    enc = browsecomp_encrypt("秘密 answer", "canary-1")
    assert browsecomp_decrypt(enc, "canary-1") == "秘密 answer"
    raw = xor_encrypt("秘密 answer", b"canary-1")
    assert xbench_decrypt(raw, "canary-1") == "秘密 answer"
    with pytest.raises(DatasetError):
        xbench_decrypt(enc, "canary-1")


def write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_browsecomp_csv(tmp_path: Path) -> None:
    canary = "BENCHMARK DATA SHOULD NEVER APPEAR"
    rows = [[browsecomp_encrypt(f"Question {i}?", canary), browsecomp_encrypt(f"A{i}", canary),
             "Sports", canary] for i in range(3)]
    path = write_csv(tmp_path / "browse_comp_test_set.csv",
                     ["problem", "answer", "problem_topic", "canary"], rows)
    fmt, items = load_dataset(path)
    assert fmt == "browsecomp"
    assert [i.answer for i in items] == ["A0", "A1", "A2"]
    assert items[1].question == "Question 1?" and items[1].metadata["topic"] == "Sports"
    assert items[0].id.startswith("q-") and len({i.id for i in items}) == 3


def test_hle_json_text_only(tmp_path: Path) -> None:
    rows = [{"id": "h1", "question": "2+2?", "image": "", "answer": "4",
             "answer_type": "exactMatch", "category": "Math", "raw_subject": "Arithmetic"},
            {"id": "h2", "question": "What is shown?", "image": "data:image/png;base64,AAA",
             "answer": "cat", "answer_type": "exactMatch"},
            {"id": "h3", "question": "Pick one: A) x B) y", "image": None, "answer": "B",
             "answer_type": "multipleChoice"}]
    path = tmp_path / "hle.json"
    path.write_text(json.dumps(rows))
    fmt, items = load_dataset(path)
    assert fmt == "hle" and [i.id for i in items] == ["h1", "h3"]
    assert items[0].metadata["category"] == "Math"
    assert items[1].metadata["answer_type"] == "multipleChoice"


def test_hle_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": ["a", "b"], "question": ["q1", "q2"], "image": ["", "img"],
                      "answer": ["1", "2"], "answer_type": ["exactMatch", "exactMatch"]})
    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(table, path)
    fmt, items = load_dataset(path)
    assert fmt == "hle" and [i.id for i in items] == ["a"]


def test_gaia_with_files(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_bytes(b"xlsx bytes")
    rows = [{"task_id": "t1", "Question": "Sum column A.", "Level": 1, "Final answer": "42",
             "file_name": "data.xlsx"},
            {"task_id": "t2", "Question": "Who?", "Level": 2, "Final answer": "Ada",
             "file_name": ""}]
    path = tmp_path / "metadata.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    fmt, items = load_dataset(path)
    assert fmt == "gaia"
    assert items[0].files == ((tmp_path / "data.xlsx").resolve(),)
    assert items[0].prompt().endswith("(Attached file: data.xlsx)")
    assert items[1].files == () and items[1].prompt() == "Who?"
    (tmp_path / "data.xlsx").unlink()
    with pytest.raises(DatasetError, match=r"data\.xlsx"):
        load_dataset(path)


def test_frames_tsv(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "frames.tsv",
                     ["", "Prompt", "Answer", "wikipedia_link_1", "wikipedia_link_2",
                      "reasoning_types"],
                     [["0", "Who was first?", "Jane", "https://en.wikipedia.org/wiki/A", "",
                       "Multiple constraints"]], delimiter="\t")
    fmt, items = load_dataset(path)
    assert fmt == "frames" and items[0].id == "frames-0" and items[0].answer == "Jane"
    assert items[0].metadata["wikipedia_links"] == ["https://en.wikipedia.org/wiki/A"]


def test_simpleqa_csv(tmp_path: Path) -> None:
    meta = "{'topic': 'Science', 'answer_type': 'Person', 'urls': ['https://x.org']}"
    path = write_csv(tmp_path / "simple_qa_test_set.csv", ["metadata", "problem", "answer"],
                     [[meta, "Who discovered X?", "Y"]])
    fmt, items = load_dataset(path)
    assert fmt == "simpleqa" and items[0].metadata["topic"] == "Science"
    assert items[0].metadata["urls"] == ["https://x.org"]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_generic_key_variants(tmp_path: Path, suffix: str) -> None:
    rows = [{"query": "Capital of France?", "ground_truth": "Paris", "level": "1"},
            {"query": "Capital of Spain?", "ground_truth": "Madrid", "level": "2"},
            {"query": "Capital of France?", "ground_truth": "Paris", "level": "3"}]
    path = tmp_path / f"set{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    elif suffix == ".json":
        path.write_text(json.dumps({"data": rows}))
    else:
        write_csv(path, list(rows[0]), [list(r.values()) for r in rows])
    fmt, items = load_dataset(path)
    assert fmt == "generic" and [i.answer for i in items] == ["Paris", "Madrid", "Paris"]
    assert items[2].id == items[0].id + "-2"  # repeated question, still unique ids
    assert items[1].metadata["level"] == "2"


def test_generic_with_ids_and_forced_format(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text(json.dumps([{"id": 7, "Question": "Q?", "Answer": ["a", "b"]}]))
    _fmt, items = load_dataset(path, "generic")
    assert items[0].id == "7" and items[0].answer == "a; b"


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"foo": 1}) + "\n")
    with pytest.raises(DatasetError, match="--format"):
        load_dataset(path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope.csv")
