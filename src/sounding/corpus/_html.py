"""HTML to (title, main text, links): trafilatura when installed, else a stdlib parser.

The stdlib parser always collects the links (trafilatura drops them) and serves
as the text fallback when trafilatura is absent or finds no main content.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["ParsedHTML", "parse_html"]

_BLOCK_TAGS = ("address article aside blockquote br dd div dl dt figcaption figure footer form "
               "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table td th tr ul")
_BLOCK = frozenset(_BLOCK_TAGS.split(" "))
_SKIP = frozenset(("script", "style", "noscript", "template", "svg", "head"))


class ParsedHTML:
    __slots__ = ("links", "text", "title")

    def __init__(self, title: str, text: str, links: list[tuple[str, str]]) -> None:
        self.title = title
        self.text = text
        self.links = links


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.h1: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._skip = 0
        self._in_title = self._in_h1 = False
        self._href: str | None = None
        self._anchor: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "h1":
            self._in_h1 = True
        elif tag == "a":
            self._href = dict(attrs).get("href")
            self._anchor = []
        if tag in _BLOCK:
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "div") else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == "h1":
            self._in_h1 = False
        elif tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._anchor)))
            self._href = None
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
            return
        if self._skip:
            return
        if self._in_h1:
            self.h1.append(data)
        if self._href is not None:
            self._anchor.append(data)
        self.parts.append(data)


def _clean(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def parse_html(html: str, url: str = "") -> ParsedHTML:
    """Title, readable text and (href, anchor) links of an HTML page."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    title = " ".join("".join(parser.title).split()) or " ".join("".join(parser.h1).split())
    text = _clean("".join(parser.parts))
    main = _trafilatura(html, url)
    if main and len(main) >= min(200, len(text) // 4):
        text = main
    return ParsedHTML(title, text, parser.links)


def _trafilatura(html: str, url: str) -> str | None:
    try:
        import trafilatura
    except ImportError:
        return None
    try:
        result = trafilatura.extract(html, url=url or None, include_comments=False,
                                     include_tables=True, favor_recall=True)
    except Exception:  # trafilatura raises assorted errors on odd markup; fall back
        return None
    return result if isinstance(result, str) and result.strip() else None
