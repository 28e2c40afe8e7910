"""Corpus fixtures: the real vital-articles index (built once per session) and tiny corpora."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sounding.corpus import Corpus, CorpusBuilder, SourceDoc, open_default_corpus

# `vital_cache` (the index, built once per session) comes from tests/conftest.py.


@pytest.fixture(scope="session")
def vital(vital_cache: Path) -> Iterator[Corpus]:
    corpus = open_default_corpus(vital_cache)
    yield corpus
    corpus.close()


TINY = [
    SourceDoc(url="https://example.org/alpha", title="Alpha Centauri",
              text="Alpha Centauri is the closest star system to the Sun.\n\n"
                   "It lies 4.37 light-years away in the constellation Centaurus.",
              source="Example", links=[("/beta", "Beta Pictoris"), ("#top", "top")]),
    SourceDoc(url="https://example.org/beta", title="Beta Pictoris",
              text="Beta Pictoris is a young star with a debris disk, 63 light-years away. "
                   "Unlike Alpha Centauri, it hosts two known giant planets.",
              source="Example"),
    SourceDoc(url="https://example.org/zh/beijing", title="北京",
              text="北京是中华人民共和国的首都，也是全国的政治和文化中心。", lang="zh"),
]


def build_tiny(directory: Path, docs: list[SourceDoc] | None = None) -> Corpus:
    CorpusBuilder(directory).build([("tiny", docs if docs is not None else TINY)])
    return Corpus.open(directory)


@pytest.fixture
def make_tiny() -> Callable[..., Corpus]:
    """Build a tiny corpus (TINY unless docs are given) into a directory and open it."""
    return build_tiny


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Corpus]:
    corpus = build_tiny(tmp_path / "tiny")
    yield corpus
    corpus.close()
