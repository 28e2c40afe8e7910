"""User tools the tests load by `module:function`, as `--tool` and `[[tools]]` do."""

from __future__ import annotations

from typing import Literal

from sounding import tool
from sounding.tools.base import ToolContext


@tool
def shout(text: str) -> str:
    """Shout the text back.

    Args:
        text: What to shout.
    """
    return text.upper() + "!"


def plain(word: str, times: int = 2) -> list[str]:
    """Repeat a word (a plain function: loading wraps it with @tool).

    Args:
        word: The word.
        times: How many times.
    """
    return [word] * times


@tool(name="where_am_i")
async def round_of(context: ToolContext, unit: Literal["round", "question"] = "round") -> str:
    """Say which round of which question calls this tool."""
    return f"round {context.round}" if unit == "round" else context.question


named_search = tool(name="search")(plain)
"""A user tool that would shadow the built-in search (refused on load)."""

TOOLS = [shout, round_of]
"""What an entry point may name: one tool or a list of them."""
