"""The stderr console and the one way the CLI reports an error: one plain line.

Messages are printed as text, never as console markup, so `pip install "sounding[dense]"`
keeps its `[dense]` and nothing a file name or a server says can restyle the line.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

__all__ = ["err", "fail", "with_hint"]

err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: MESSAGE` on stderr as plain text and return the exit to raise."""
    err.print(Text.assemble(("error: ", "bold red"), message))
    return typer.Exit(code)


def with_hint(message: str) -> str:
    """`message`, plus how to do without a provider key when one is missing."""
    if "_API_KEY" in message and "no usable" in message:
        return (f"{message} (or use --env offline, the local corpus, or a provider that "
                "needs no key, e.g. SOUNDING_WEB__SEARCH=searxng with SOUNDING_WEB__SEARXNG_URL)")
    return message
