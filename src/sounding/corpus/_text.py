"""Text helpers of the index: passage splitting, FTS5 query building, CJK bigrams."""

from __future__ import annotations

import re

from ..types import CJK_RUN, is_cjk

__all__ = [
    "MAX_QUERY_CHARS",
    "cjk_terms",
    "has_cjk",
    "match_expression",
    "query_terms",
    "split_passages",
]

# Scripts written without spaces between words: CJK ideographs, kana, Hangul, Thai, Lao,
# Khmer, Myanmar. They get character bigrams, as in Lucene's CJK analyzer.
_CJK = CJK_RUN
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_CHARS = 2000
"""Characters of a query that are read; the rest is ignored."""

# Function words dropped from queries when other terms remain: they match most
# passages, cost the most to score, and barely change the ranking.
_STOP = ("a about an and are as at be been but by can did do does for from had has have how i "
         "if in into is it its of on or that the their there these they this to was were what "
         "when where which who whom whose why will with")
STOPWORDS = frozenset(_STOP.split(" "))


def has_cjk(text: str) -> bool:
    return is_cjk(text)


def cjk_terms(text: str) -> str:
    """The text as the CJK index sees it: bigrams for unsegmented runs, other words as is."""
    out: list[str] = []
    pos = 0
    for m in _CJK.finditer(text):
        out.extend(_WORD.findall(text[pos:m.start()]))
        run = m.group(0)
        out.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
        pos = m.end()
    out.extend(_WORD.findall(text[pos:]))
    return " ".join(out)


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def query_terms(query: str, *, cjk: bool = False, max_terms: int = 24) -> list[str]:
    """The quoted FTS5 terms (or phrases) of a query, deduplicated, in query order."""
    expr = match_expression(query, cjk=cjk, max_terms=max_terms)
    return expr.split(" OR ") if expr else []


def match_expression(query: str, *, cjk: bool = False, max_terms: int = 24) -> str | None:
    """A safe FTS5 MATCH expression for arbitrary user text (None: nothing searchable).

    Every word is quoted, so operators (`AND`, `NEAR`, `-`, `"`, `*`, `:`) in the
    user's text are plain words. Terms are OR-ed and BM25 ranks them, like a web
    engine. For the CJK index, each unsegmented run becomes a phrase of its bigrams,
    which matches exactly that substring; a lone character becomes a prefix query.
    """
    query = query[:MAX_QUERY_CHARS]  # a longer "query" is a document, not a search
    terms: list[str] = []
    if cjk:
        pos = 0
        for m in _CJK.finditer(query):
            terms.extend(_words(query[pos:m.start()]))
            run = m.group(0)
            if len(run) == 1:
                terms.append(_quote(run) + "*")
            else:
                terms.append(_quote(" ".join(run[i:i + 2] for i in range(len(run) - 1))))
            pos = m.end()
        terms.extend(_words(query[pos:]))
    else:
        terms = _words(query)
    seen = list(dict.fromkeys(terms))  # linear, in query order (a list check was quadratic)
    return " OR ".join(seen[:max_terms]) or None


def _words(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text.replace("_", " "))]
    content = [w for w in words if w not in STOPWORDS]
    return [_quote(w) for w in (content or words)]


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def split_passages(text: str, *, target: int = 900, limit: int = 1400) -> list[str]:
    """Split text into passages of about `target` characters at paragraph, then
    sentence, boundaries; no passage exceeds `limit` characters."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n|\n(?=\s*[#*\-] )", text) if p.strip()]
    pieces: list[str] = []
    for para in paragraphs:
        if len(para) <= limit:
            pieces.append(para)
            continue
        for sentence in _SENTENCE_END.split(para):
            pieces.extend(_cut_long(sentence, limit))
    passages: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) + 1 > target:
            passages.append(current)
            current = piece
        else:
            current = f"{current}\n{piece}" if current else piece
    if current:
        passages.append(current)
    return passages


def _cut_long(sentence: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a space where one is near; linear in
    the sentence (positions move forward; the rest is never copied again)."""
    pieces: list[str] = []
    start, end = 0, len(sentence)
    while end - start > limit:
        cut = sentence.rfind(" ", start, start + limit)
        cut = cut if cut > start + limit // 2 else start + limit
        pieces.append(sentence[start:cut])
        start = cut
        while start < end and sentence[start].isspace():
            start += 1
    if start < end:
        pieces.append(sentence[start:])
    return pieces
