"""The stderr console and the one way the CLI reports an error: one plain line.

Messages are printed as text, never as console markup, so `pip install "sounding[dense]"`
keeps its `[dense]` and nothing a file name or a server says can restyle the line.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.text import Text

from ..config import Settings
from ..errors import ConfigError, SoundingError

__all__ = ["check_endpoint", "err", "fail", "printable", "run_resumable", "with_hint"]

T = TypeVar("T")

err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: MESSAGE` on stderr as plain text and return the exit to raise."""
    err.print(Text.assemble(("error: ", "bold red"), printable(message)))
    return typer.Exit(code)


def with_hint(message: str) -> str:
    """`message`, plus how to do without a provider key when one is missing."""
    if "_API_KEY" in message and "no usable" in message:
        return (f"{message} (or use --env offline, the local corpus, or a provider that "
                "needs no key, e.g. SOUNDING_WEB__SEARCH=searxng with SOUNDING_WEB__SEARXNG_URL)")
    return message


# C0 and C1 control characters but newline and tab: a page or a reply could otherwise
# move the cursor, recolour or retitle the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with terminal control characters shown as `\\xNN` instead of obeyed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def check_endpoint(settings: Settings) -> None:
    """Fail fast (before any work) when the LLM endpoint cannot be reached at all."""
    from .._secrets import strip_url_credentials
    from ..llm.openai_client import endpoint_url

    base = settings.llm.base_url or ""
    url = endpoint_url(base, "/models")
    headers = {"Authorization": f"Bearer {settings.llm.api_key}"} if settings.llm.api_key else {}
    try:
        httpx.get(url, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"cannot reach the LLM endpoint {strip_url_credentials(base)} "
            f"({type(exc).__name__}); "
            "check --base-url / SOUNDING_BASE_URL and that the server is running"
        ) from exc


def run_resumable(work: Coroutine[Any, Any, T], out: Path,
                  on_interrupt: Callable[[Path], object]) -> T:
    """`asyncio.run(work)` for a resumable run writing into `out`. Ctrl-C calls
    `on_interrupt(out)` (e.g. to write the metrics of the rows so far), says how to resume
    and exits 130; a configuration error exits 2 and any other Sounding error 1, each as
    one line: finished rows stay and the same command resumes."""
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        on_interrupt(out)
        err.print(f"interrupted: finished rows are kept in {out}; run the same command to "
                  "resume.", markup=False)
        raise typer.Exit(130) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except SoundingError as exc:  # a full disk included: one line, the run stays resumable
        raise fail(f"{type(exc).__name__}: {exc}", code=1) from None
