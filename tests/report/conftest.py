"""Report fixtures: a reader of the offline corpus, to check that quotes are verbatim."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sounding.corpus.vital import open_default_corpus


@pytest.fixture
def page_text(vital_cache: Path) -> Iterator[Callable[[str], str]]:
    """url -> the page text the offline corpus serves."""
    corpus = open_default_corpus(vital_cache)

    def read(url: str) -> str:
        doc = corpus.get(url)
        return doc.to_page().text if doc is not None else ""

    yield read
    corpus.close()
