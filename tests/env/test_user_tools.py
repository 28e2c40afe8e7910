"""User tools in Python: the `@tool` schema, sync and async calls, and the three ways to load."""

from __future__ import annotations

import inspect
import json
import threading
from pathlib import Path

import pytest

from sounding import tool
from sounding.config import load_settings
from sounding.env.extra import load_tool, user_toolset
from sounding.errors import ConfigError
from sounding.tools.base import ToolContext
from sounding.tools.decorator import FunctionTool, parse_docstring

from .sample_tools import plain, round_of, shout


def test_schema_from_signature_and_docstring() -> None:
    @tool
    def lookup(name: str, limit: int = 5, tags: list[str] | None = None,
               exact: bool = False, unit: str | None = None) -> str:
        """Look a name up in the registry.

        Longer explanation that stays in the description.

        Args:
            name: The name to look up,
                which may span two lines.
            limit: Most results.
            tags (list): Tags that must all match.

        Returns:
            The matches.
        """
        return name

    schema = lookup.schema
    assert schema.name == "lookup"
    assert schema.description == ("Look a name up in the registry.\n\n"
                                  "Longer explanation that stays in the description.")
    props = schema.parameters["properties"]
    assert props == {
        "name": {"type": "string",
                 "description": "The name to look up, which may span two lines."},
        "limit": {"type": "integer", "description": "Most results.", "default": 5},
        "tags": {"type": "array", "items": {"type": "string"},
                 "description": "Tags that must all match."},
        "exact": {"type": "boolean", "default": False},
        "unit": {"type": "string"},
    }
    assert schema.parameters["required"] == ["name"]


def test_literal_becomes_an_enum_and_context_is_not_an_argument() -> None:
    assert round_of.schema.name == "where_am_i"
    assert round_of.schema.parameters["properties"] == {
        "unit": {"type": "string", "enum": ["round", "question"], "default": "round"}}


def test_docstring_arguments_and_their_continuation_lines() -> None:
    doc = """Look a word up.

    Args:
        word: The word, as written:
            any script.
        *extra: More words
            to look up.
        limit (int): How many senses.

    Returns:
        word: not an argument.
    """
    summary, args = parse_docstring(inspect.cleandoc(doc))
    assert summary == "Look a word up."
    assert args == {"word": "The word, as written: any script.",
                    "extra": "More words to look up.", "limit": "How many senses."}


def test_a_tool_needs_a_docstring_and_a_usable_name() -> None:
    def undocumented(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match="needs a docstring"):
        tool(undocumented)
    with pytest.raises(ConfigError, match="not a usable tool name"):
        tool(name="two words")(shout.fn)


async def test_sync_functions_run_in_a_worker_thread() -> None:
    threads: list[str] = []

    @tool
    def where() -> str:
        """Name the thread this runs in."""
        threads.append(threading.current_thread().name)
        return "ok"

    assert (await where({}, ToolContext())).text == "ok"
    assert threads and threads[0] != threading.current_thread().name


async def test_async_tools_get_the_context_and_results_become_text() -> None:
    out = await round_of({"unit": "question"}, ToolContext(question="Why?", round=3))
    assert out.text == "Why?"
    assert (await round_of({}, ToolContext(round=3))).text == "round 3"
    wrapped = FunctionTool(plain)
    out = await wrapped({"word": "hi", "times": 2}, ToolContext())
    assert json.loads(out.text) == ["hi", "hi"]


def test_load_by_module_and_by_file(tmp_path: Path) -> None:
    assert load_tool("tests.env.sample_tools:shout") is shout
    assert load_tool("tests.env.sample_tools:plain").schema.name == "plain"
    script = tmp_path / "mytools.py"
    script.write_text('def greet(name: str) -> str:\n    """Greet someone."""\n'
                      '    return "hello " + name\n')
    assert load_tool(f"{script}:greet").schema.description == "Greet someone."


@pytest.mark.parametrize(("spec", "message"), [
    ("no_colon", "write it as module:function"),
    ("tests.env.sample_tools:missing", "has no 'missing'"),
    ("no_such_module_xyz:f", "cannot import no_such_module_xyz: ModuleNotFoundError"),
    ("tests.env.sample_tools:TOOLS", "neither a tool nor a function"),
])
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_tool(spec)


def test_user_tools_may_not_shadow_builtins_or_each_other() -> None:
    with pytest.raises(ConfigError, match="may not be named 'search'"):
        user_toolset(["tests.env.sample_tools:named_search"])
    with pytest.raises(ConfigError, match="two user tools are named 'shout'"):
        user_toolset(["tests.env.sample_tools:shout", "tests.env.sample_tools:shout"])


def test_tools_and_mcp_from_sounding_toml(tmp_path: Path) -> None:
    config = tmp_path / "sounding.toml"
    config.write_text('[[tools]]\npath = "tests.env.sample_tools:shout"\n\n'
                      '[[tools]]\npath = "tests.env.sample_tools:plain"\n\n'
                      '[[mcp]]\ncommand = "python3 server.py"\ntimeout = 5\n\n'
                      '[[mcp]]\nurl = "http://127.0.0.1:8765/mcp"\nname = "law"\n')
    settings = load_settings(config_file=config, environ={})
    assert settings.tools == ("tests.env.sample_tools:shout", "tests.env.sample_tools:plain")
    stdio, http = settings.mcp
    assert (stdio.command, stdio.timeout, stdio.label) == ("python3 server.py", 5.0, "server.py")
    assert (http.url, http.label) == ("http://127.0.0.1:8765/mcp", "law")
    config.write_text('[[mcp]]\ncommand = "a"\nurl = "http://b"\n')
    with pytest.raises(ConfigError, match="exactly one of command or url"):
        load_settings(config_file=config, environ={})


def test_entry_point_plugins_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "sounding_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sounding-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[sounding.tools]\nsample = tests.env.sample_tools:TOOLS\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    toolset = user_toolset([], entry_points=True)
    assert list(toolset.tools()) == ["shout", "where_am_i"]


def test_tools_and_mcp_as_flags_or_keyword_arguments() -> None:
    settings = load_settings({"tools": ["tests.env.sample_tools:shout"],
                              "mcp": ["python3 law.py", "http://127.0.0.1:9/mcp"]},
                             environ={}, config_file=None)
    assert settings.tools == ("tests.env.sample_tools:shout",)
    assert [(s.command, s.url) for s in settings.mcp] == [
        ("python3 law.py", None), (None, "http://127.0.0.1:9/mcp")]
