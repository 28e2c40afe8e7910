"""Prompt templates shipped as package data; rendering fails on a missing variable."""

from __future__ import annotations

import string
from functools import cache
from importlib import resources

__all__ = ["load_template", "render"]


@cache
def load_template(package: str, name: str) -> str:
    """The raw text of `name` in the package's `prompts/` folder."""
    return (resources.files(package) / "prompts" / name).read_text(encoding="utf-8")


def render(package: str, name: str, /, **values: object) -> str:
    """Fill `${var}` placeholders; a missing variable raises KeyError naming it."""
    template = string.Template(load_template(package, name))
    try:
        return template.substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise KeyError(f"prompt template {package}/{name} needs variable {exc.args[0]!r}") from exc
