"""Canonical document URLs and the lookup key that makes URL variants resolve to one page."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urljoin, urlsplit

__all__ = ["url_key", "wikipedia_url"]

# MediaWiki's wfUrlencode: PHP urlencode, then these characters put back.
_WIKI_SAFE = ";@$!*(),/~:"
_MOBILE = re.compile(r"^([a-z\-]+)\.m\.(wikipedia|wiktionary|wikibooks|wikivoyage)\.org$")


def wikipedia_url(title: str, lang: str = "en") -> str:
    """The canonical Wikipedia URL of an article, encoded the way Wikipedia links it."""
    name = title.strip().replace(" ", "_")
    if name:
        name = name[0].upper() + name[1:]
    return f"https://{lang}.wikipedia.org/wiki/{quote(name, safe=_WIKI_SAFE)}"


def url_key(url: str, base: str | None = None) -> str:
    """A scheme-free, decoded form of `url` that equal pages share.

    Folds http/https, `www.`, mobile Wikipedia hosts, percent-encoding, a trailing
    slash, the fragment, and (on Wikipedia) spaces vs underscores and the case of
    the first letter of the title. `base` resolves relative links.
    """
    url = url.strip()
    if base:
        url = urljoin(base, url)
    if "://" not in url and not url.startswith("/"):
        url = "https://" + url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    mobile = _MOBILE.match(host)
    if mobile:
        host = f"{mobile.group(1)}.{mobile.group(2)}.org"
    path = unquote(parts.path)
    query = parts.query
    if host.endswith(".wikipedia.org"):
        path, query = _wiki_path(path, query)
    if path.endswith("/") and len(path) > 1:
        path = path.rstrip("/")
    if parts.scheme == "file":
        host = ""
    key = f"{host}{path or '/'}"
    return f"{key}?{unquote(query)}" if query else key


def _wiki_path(path: str, query: str) -> tuple[str, str]:
    if path in ("/w/index.php", "/w/index.php/"):
        params = dict(parse_qsl(query))
        if "title" in params:
            path, query = "/wiki/" + params["title"], ""
    if path.startswith("/wiki/"):
        title = path[len("/wiki/"):].replace(" ", "_")
        if title:
            title = title[0].upper() + title[1:]
        path = "/wiki/" + title
    return path, query
