"""Source readers: each yields SourceDoc (or Skipped, with the reason) for the builder.

Sources are named on the command line: `wiki:en|es|fr` (bundled vital articles), a
`.jsonl` file, a `.zim` file, `wikiextractor:DIR` (or a directory of `wiki_NN`
files), or any other directory or file of HTML, Markdown, PDF or text.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ..errors import CorpusError
from ._html import parse_html
from ._urls import wikipedia_url
from .builder import Skipped, SourceDoc
from .vital import VITAL_FILES, vital_documents

__all__ = [
    "directory_documents",
    "jsonl_documents",
    "resolve_source",
    "wikiextractor_documents",
]

Items = Iterator[SourceDoc | Skipped]
TEXT_SUFFIXES = frozenset((".txt", ".text", ".rst"))
MARKDOWN_SUFFIXES = frozenset((".md", ".markdown"))
HTML_SUFFIXES = frozenset((".html", ".htm", ".xhtml"))
_WIKI_FILE = re.compile(r"^wiki_\d+(\.bz2)?$")


def resolve_source(spec: str, *, base_url: str | None = None) -> tuple[str, Iterable[
        SourceDoc | Skipped]]:
    """Turn one SOURCE argument into (name, documents); CorpusError if it names nothing."""
    if spec.startswith("wiki:"):
        lang = spec.split(":", 1)[1] or "en"
        if lang not in VITAL_FILES:
            raise CorpusError(f"{spec}: bundled vital articles exist for "
                              f"{', '.join('wiki:' + k for k in VITAL_FILES)}")
        return spec, vital_documents(lang)
    if spec.startswith("wikiextractor:"):
        return spec, wikiextractor_documents(Path(spec.split(":", 1)[1]))
    path = Path(spec).expanduser()
    if not path.exists():
        raise CorpusError(f"source {spec!r} does not exist (expected wiki:LANG, a .jsonl or "
                          ".zim file, or a directory)")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return spec, jsonl_documents(path)
    if name.endswith(".zim"):
        from .zim import zim_documents

        return spec, zim_documents(path, base_url=base_url)
    if path.is_dir() and any(_WIKI_FILE.match(p.name) for p in path.rglob("wiki_*")):
        return spec, wikiextractor_documents(path)
    return spec, directory_documents(path, base_url=base_url)


def jsonl_documents(path: Path) -> Items:
    """One JSON object a line: `url`, `title`, `text`, optional `description`, `metadata`.

    Lines are decoded one by one: an invalid UTF-8 byte or an unpaired surrogate costs
    that line (reported with its number), never the rest of the file; a corrupt or
    truncated `.gz` is reported for this file, after the lines read before the damage.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    lineno = 0
    try:
        with opener(path, "rb") as handle:
            for lineno, raw in enumerate(handle, 1):
                if raw.strip():
                    yield _jsonl_line(raw, f"{path}:{lineno}")
    except (OSError, EOFError, zlib.error) as exc:
        where = f"{path}:{lineno + 1}" if lineno else str(path)
        yield Skipped(where, f"unreadable from here on ({type(exc).__name__}: {exc})")


def _jsonl_line(raw: bytes, where: str) -> SourceDoc | Skipped:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Skipped(where, f"invalid UTF-8 at byte {exc.start} of the line")
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return Skipped(where, f"invalid JSON: {exc.msg}")
    except RecursionError:
        return Skipped(where, "JSON nested too deeply")
    doc = _jsonl_doc(row, where)
    if isinstance(doc, SourceDoc) and not _encodable(doc):
        return Skipped(where, "an unpaired surrogate (\\ud800-\\udfff) in a string")
    return doc


def _encodable(doc: SourceDoc) -> bool:
    """False when a string holds a lone surrogate, which JSON allows and SQLite refuses."""
    try:
        for text in (doc.url, doc.title, doc.text, doc.description, doc.source, doc.lang,
                     json.dumps(doc.metadata, ensure_ascii=False),
                     *(part for link in doc.links for part in link)):
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _jsonl_doc(row: object, where: str) -> SourceDoc | Skipped:
    if not isinstance(row, dict):
        return Skipped(where, "not a JSON object")
    url, text = row.get("url"), row.get("text")
    if not isinstance(url, str) or not url.strip():
        return Skipped(where, "missing `url`")
    if not isinstance(text, str) or not text.strip():
        return Skipped(where, "missing `text`")
    meta = row.get("metadata")
    links = row.get("links")
    return SourceDoc(
        url=url.strip(), title=str(row.get("title") or url), text=text,
        description=str(row.get("description") or ""), source=str(row.get("source") or ""),
        lang=str(row.get("lang") or ""), metadata=meta if isinstance(meta, dict) else {},
        links=[(str(x), "") for x in links] if isinstance(links, list) else [],
    )


_ANCHOR = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)
_TAG = re.compile(r"<[^>]+>")


def wikiextractor_documents(root: Path) -> Items:
    """WikiExtractor `--json` output: lines of {id, url, title, text} in wiki_NN files."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("wiki_*") if p.is_file())
    if not files:
        yield Skipped(str(root), "no WikiExtractor wiki_NN files found")
    for path in files:
        for item in jsonl_documents(path) if not path.name.endswith(".bz2") else [
                Skipped(str(path), "compressed WikiExtractor output: run it without --compress")]:
            yield _wikiextractor_doc(item) if isinstance(item, SourceDoc) else item


def _wikiextractor_doc(doc: SourceDoc) -> SourceDoc:
    # WikiExtractor writes ?curid= URLs; the canonical one comes from the title.
    parts = urlsplit(doc.url)
    host = parts.hostname or "en.wikipedia.org"
    lang = host.split(".")[0] if host.endswith("wikipedia.org") else "en"
    links = [(wikipedia_url(unquote(href), lang), _TAG.sub("", anchor))
             for href, anchor in _ANCHOR.findall(doc.text) if "://" not in href]
    text = _TAG.sub("", _ANCHOR.sub(lambda m: m.group(2), doc.text))
    if text.startswith(doc.title + "\n"):
        text = text[len(doc.title):].lstrip()
    return SourceDoc(url=wikipedia_url(doc.title, lang), title=doc.title, text=text,
                     source="Wikipedia", lang=lang, metadata=dict(doc.metadata), links=links)


def directory_documents(root: Path, *, base_url: str | None = None) -> Items:
    """HTML, Markdown, PDF and text files under `root` (or `root` itself if a file).

    Symbolic links are not followed out of `root`: a linked directory is not entered and
    a linked file is read only when it resolves inside `root`.
    """
    top = root.parent if root.is_file() else root
    for path in [root] if root.is_file() else _files_under(root):
        rel = path.relative_to(top).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):
            continue
        if path.is_symlink() and not _inside(path, root):
            yield Skipped(str(path), "a symbolic link out of the source directory")
            continue
        url = (base_url.rstrip("/") + "/" + quote(rel)) if base_url else path.resolve().as_uri()
        yield _file_doc(path, url)


def _files_under(root: Path) -> list[Path]:
    files: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        files.extend(Path(folder) / name for name in names)
    return sorted(p for p in files if p.is_symlink() or p.is_file())


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # dangling link or a link loop
        return False


def _file_doc(path: Path, url: str) -> SourceDoc | Skipped:
    suffix = path.suffix.lower()
    try:
        if suffix in HTML_SUFFIXES:
            page = parse_html(path.read_text(encoding="utf-8", errors="replace"), url)
            title, text, links = page.title, page.text, page.links
        elif suffix in MARKDOWN_SUFFIXES or suffix in TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8")
            title, links = _text_title(text, path), _markdown_links(text)
        elif suffix == ".pdf":
            title, text = _pdf(path)
            links = []
        else:
            return Skipped(str(path), f"unsupported file type {suffix or '(none)'}")
    except UnicodeDecodeError as exc:
        return Skipped(str(path), f"unreadable: invalid UTF-8 at byte {exc.start}")
    except (OSError, CorpusError, ValueError, RuntimeError) as exc:
        return Skipped(str(path), f"unreadable: {exc}")
    if not text.strip():
        return Skipped(str(path), "no text")
    return SourceDoc(url=url, title=title or path.stem, text=text, links=links,
                     metadata={"path": str(path)})


def _text_title(text: str, path: Path) -> str:
    for line in text.splitlines()[:20]:
        if line.startswith("# "):
            return line[2:].strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:120] if 0 < len(first) <= 120 else path.stem


_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _markdown_links(text: str) -> list[tuple[str, str]]:
    return [(href, anchor) for anchor, href in _MD_LINK.findall(text)]


def _pdf(path: Path) -> tuple[str, str]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError as exc:
        raise CorpusError('PDF needs pypdf: pip install "sounding[web]"') from exc
    try:
        reader = PdfReader(path)
        text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
        meta = reader.metadata
        title = str(meta.get("/Title") or "") if meta is not None else ""
    except (PyPdfError, KeyError, TypeError) as exc:
        raise CorpusError(f"not a readable PDF: {exc}") from exc
    return title, text
