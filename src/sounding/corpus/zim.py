"""Kiwix ZIM files (the standard offline Wikipedia format) through libzim (extra `corpus`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from ..errors import CorpusError
from ._html import parse_html
from .builder import Skipped, SourceDoc

__all__ = ["zim_base_url", "zim_documents"]

_WIKIMEDIA = ("wikipedia.org", "wiktionary.org", "wikibooks.org", "wikivoyage.org",
              "wikisource.org", "wikiquote.org", "wikinews.org", "wikiversity.org")


def zim_base_url(source: str) -> str:
    """The URL prefix of articles for a ZIM `Source` (`en.wikipedia.org` -> .../wiki/)."""
    base = source if "://" in source else f"https://{source}"
    base = base.rstrip("/") + "/"
    host = base.split("://", 1)[1].split("/", 1)[0]
    if host.endswith(_WIKIMEDIA) and not base.endswith("/wiki/"):
        base += "wiki/"
    return base


def zim_documents(path: Path, *, base_url: str | None = None) -> Iterator[SourceDoc | Skipped]:
    """Every HTML article of a ZIM file (redirects and media skipped)."""
    try:
        from libzim.reader import Archive
    except ImportError as exc:
        raise CorpusError(f'{path}: ZIM files need libzim: pip install "sounding[corpus]"') \
            from exc
    try:
        archive = Archive(path)
    except RuntimeError as exc:
        yield Skipped(str(path), f"not a readable ZIM file: {exc}")
        return
    meta = _metadata(archive)
    source = base_url or meta.get("Source") or ""
    prefix = zim_base_url(source) if source else f"zim://{path.stem}/"
    lang = meta.get("Language", "")[:2]
    label = meta.get("Creator") or meta.get("Title") or path.stem
    for i in range(archive.entry_count):
        try:
            entry = archive._get_entry_by_id(i)
            if entry.is_redirect:
                continue
            item = entry.get_item()
            if not item.mimetype.startswith("text/html"):
                continue
            html = bytes(item.content).decode("utf-8", errors="replace")
        except RuntimeError as exc:
            yield Skipped(f"{path}#{i}", f"unreadable entry: {exc}")
            continue
        page = parse_html(html, prefix + entry.path)
        if not page.text.strip():
            continue
        url = prefix + quote(entry.path, safe="/;@$!*(),~:")
        # Article links in ZIMs are relative paths such as `./Other_Title`.
        yield SourceDoc(url=url, title=entry.title or page.title, text=page.text,
                        source=label, lang=lang, links=page.links,
                        metadata={"zim": path.name, "path": entry.path})


def _metadata(archive: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in getattr(archive, "metadata_keys", []):
        try:
            out[key] = bytes(archive.get_metadata(key)).decode("utf-8",  # type: ignore[attr-defined]
                                                                 errors="replace")
        except RuntimeError:
            continue
    return out
