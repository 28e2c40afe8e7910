"""`web_environment` end to end: every tool against loopback providers, keys, record/replay,
and `sounding tool` on the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sounding.config import Settings, load_settings
from sounding.env.web import web_environment
from sounding.errors import ConfigError, ReplayMissError
from sounding.llm.testing import ScriptedModel
from sounding.providers.record import ReplayBackend
from sounding.providers.sandbox import bwrap_path
from sounding.tools.base import ToolContext

from .documents import ARTICLE_HTML
from .loopback import LoopbackServer, Reply
from .test_search_providers import ARXIV_FEED, SERPER_SCHOLAR, SERPER_SEARCH

SEARXNG = {"query": "q", "results": [{"url": "https://searx.example/1", "title": "From SearXNG",
                                      "content": "searx snippet", "engine": "brave"}]}


@pytest.fixture
def providers() -> Iterator[LoopbackServer]:
    routes = {
        "/serper/search": Reply(body=SERPER_SEARCH),
        "/serper/scholar": Reply(body=SERPER_SCHOLAR),
        "/searxng/search": Reply(body=SEARXNG),
        "/arxiv/query": Reply(body=ARXIV_FEED, content_type="application/atom+xml"),
        "/pages/cave": Reply(body=ARTICLE_HTML, content_type="text/html; charset=utf-8"),
    }
    with LoopbackServer(routes) as server:  # type: ignore[arg-type]
        yield server


def web_settings(server: LoopbackServer, tmp_path: Path, secrets: dict[str, str] | None = None,
                 /, **flags: object) -> Settings:
    base = server.base_url
    values: dict[str, object] = {
        "env": "web", "cache_dir": tmp_path / "cache", "web.serper_url": f"{base}/serper",
        "web.searxng_url": f"{base}/searxng", "web.arxiv_url": f"{base}/arxiv",
        "web.fetch": "direct", "web.allow_private_addresses": True, "web.backoff_base": 0.001,
        "web.timeout": 10.0, **flags}
    env = {"SERPER_API_KEY": "sk"} if secrets is None else secrets
    return load_settings(values, environ=env, config_file=None)


async def test_all_tools_work_against_loopback_providers(providers: LoopbackServer,
                                                         tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.md").write_text("# Notes\nThe cave is 72 metres deep.")
    settings = web_settings(providers, tmp_path, **{"web.files_dir": files})
    extraction = json.dumps({"rational": "table", "evidence": "Depth | 72 metres",
                             "summary": "The cave is 72 m deep."})
    model = ScriptedModel([extraction])
    env = web_environment(settings, summary_model=model)
    expected = ["search", "visit", "google_scholar", "parse_file"]
    if bwrap_path():
        expected.insert(3, "PythonInterpreter")
    assert list(env.names()) == expected
    ctx = ToolContext(summary_model=model)
    search = await env.tools["search"]({"query": ["Steve Jobs", "通义"]}, ctx)
    assert search.text.startswith("A Google search for 'Steve Jobs' found 2 results:")
    assert "\n=======\n" in search.text
    scholar = await env.tools["google_scholar"]({"query": ["apple inc"]}, ctx)
    assert "A Google scholar for 'apple inc'" in scholar.text
    assert "DB Yoffie" in scholar.text
    visit = await env.tools["visit"]({"url": [f"{providers.base_url}/pages/cave"],
                                      "goal": "how deep is the cave"}, ctx)
    assert "Evidence in page: \nDepth | 72 metres" in visit.text
    prompt = model.requests[0].messages[0].content
    assert "hexagonally jointed basalt" in prompt and "how deep is the cave" in prompt
    parsed = await env.tools["parse_file"]({"files": ["notes.md"]}, ctx)
    assert "72 metres deep" in parsed.text
    if bwrap_path():
        run = await env.tools["PythonInterpreter"]({}, ctx, code="print(6 * 7)")
        assert run.text == "stdout:\n42\n"
    await env.aclose()


async def test_second_call_is_a_cache_hit(providers: LoopbackServer, tmp_path: Path) -> None:
    env = web_environment(web_settings(providers, tmp_path), summary_model=None)
    tool = env.tools["search"]
    first_context = ToolContext()
    first = first_context.stats
    await tool({"query": ["Steve Jobs"]}, first_context)
    assert (first.requests, first.cache_hits, first.providers) == (1, 0, ["serper"])
    second_context = ToolContext()
    second = second_context.stats
    again = await tool({"query": ["Steve Jobs"]}, second_context)
    assert second.cache_hit and second.providers == ["serper"]
    assert "Steve Jobs - Wikipedia" in again.text
    assert len(providers.requests) == 1
    await env.aclose()


async def test_no_cache_setting(providers: LoopbackServer, tmp_path: Path) -> None:
    env = web_environment(web_settings(providers, tmp_path, **{"web.no_cache": True}),
                          summary_model=None)
    for _ in range(2):
        await env.tools["search"]({"query": ["x"]}, ToolContext())
    assert len(providers.requests) == 2
    assert not (tmp_path / "cache" / "web").exists()
    await env.aclose()


async def test_missing_key_falls_back_or_names_the_variable(providers: LoopbackServer,
                                                            tmp_path: Path) -> None:
    settings = web_settings(providers, tmp_path, {}, **{"web.search": "serper,searxng",
                                                                "web.scholar": "arxiv"})
    env = web_environment(settings, summary_model=None)
    out = await env.tools["search"]({"query": ["q"]}, ToolContext())
    assert "From SearXNG" in out.text
    await env.aclose()
    alone = web_settings(providers, tmp_path, {}, **{"web.search": "serper",
                                                     "web.scholar": "arxiv"})
    with pytest.raises(ConfigError, match="SERPER_API_KEY"):
        web_environment(alone, summary_model=None)
    brave = web_settings(providers, tmp_path, **{"web.search": "brave"})
    with pytest.raises(ConfigError, match="BRAVE_API_KEY"):
        web_environment(brave, summary_model=None)
    with pytest.raises(ConfigError, match="unknown search provider 'bing'"):
        web_environment(web_settings(providers, tmp_path, **{"web.search": "bing"}),
                        summary_model=None)


async def test_failing_provider_falls_back(providers: LoopbackServer, tmp_path: Path) -> None:
    providers.routes["/serper/search"] = Reply(500, {"message": "down"})
    settings = web_settings(providers, tmp_path, **{"web.search": "serper,searxng",
                                                    "web.max_retries": 1})
    env = web_environment(settings, summary_model=None)
    context = ToolContext()
    stats = context.stats
    out = await env.tools["search"]({"query": ["q"]}, context)
    assert "From SearXNG" in out.text
    assert stats.retries == 1 and stats.providers == ["searxng"]
    await env.aclose()


async def test_record_then_replay_with_providers_gone(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    with LoopbackServer({"/serper/search": Reply(body=SERPER_SEARCH),
                         "/pages/cave": Reply(body=ARTICLE_HTML, content_type="text/html")}
                        ) as server:
        settings = web_settings(server, tmp_path, **{"web.record_dir": rec})
        env = web_environment(settings, summary_model=None)
        live = await env.tools["search"]({"query": ["Steve Jobs"]}, ToolContext())
        page = await env.tools["visit"]({"url": [f"{server.base_url}/pages/cave"],
                                         "goal": "depth"}, ToolContext())
        await env.aclose()
        dead_base = server.base_url
    replay = load_settings({"env": "web", "cache_dir": tmp_path / "c2", "web.replay_dir": rec,
                            "web.fetch": "direct"}, environ={}, config_file=None)
    env = web_environment(replay, summary_model=None)  # no key needed: nothing is called
    chain = env.tools["search"].backend
    assert all(isinstance(b, ReplayBackend) for b in chain.backends)
    again = await env.tools["search"]({"query": ["Steve Jobs"]}, ToolContext())
    assert again.text == live.text
    assert (await env.tools["visit"]({"url": [f"{dead_base}/pages/cave"], "goal": "depth"},
                                     ToolContext())).text == page.text
    with pytest.raises(ReplayMissError):
        await env.tools["search"]({"query": ["not recorded"]}, ToolContext())
    await env.aclose()


def _cli(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
         ) -> tuple[typer.Typer, CliRunner]:
    from sounding.cli.tool import register

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps `tool` a subcommand, as in the real CLI
        """Unused."""

    return app, CliRunner()


def test_cli_tool_command(providers: LoopbackServer, tmp_path: Path, isolated_env: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    base = providers.base_url
    app, runner = _cli(monkeypatch, {
        "SOUNDING_ENV": "web",  # `sounding tool` defaults to offline, as `ask` does
        "SERPER_API_KEY": "sk", "SOUNDING_CACHE_DIR": str(tmp_path / "cache"),
        "SOUNDING_WEB__SERPER_URL": f"{base}/serper", "SOUNDING_WEB__ARXIV_URL": f"{base}/arxiv",
        "SOUNDING_WEB__ALLOW_PRIVATE_ADDRESSES": "true", "SOUNDING_WEB__FETCH": "direct",
        "SOUNDING_WEB__SEARCH": "serper"})  # no keyless fallback: the missing key shows
    result = runner.invoke(app, ["tool", "search", '{"query": ["Steve Jobs"]}'])
    assert result.exit_code == 0, result.output
    assert "A Google search for 'Steve Jobs' found 2 results" in result.stdout
    result = runner.invoke(app, ["tool", "visit", json.dumps(
        {"url": [f"{base}/pages/cave"], "goal": "Mendelssohn overture"}), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert "Hebrides overture" in record["observation"] and record["provider"] == "direct"
    bad = runner.invoke(app, ["tool", "nosuch", "{}"])
    assert bad.exit_code == 2 and "has no tool 'nosuch'" in bad.output
    monkeypatch.delenv("SERPER_API_KEY")
    missing = runner.invoke(app, ["tool", "search", '{"query": ["x"]}'])
    assert missing.exit_code == 2 and "SERPER_API_KEY" in missing.output


def test_cli_tool_builds_only_what_the_tool_needs(providers: LoopbackServer, tmp_path: Path,
                                                  isolated_env: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key is set: tools that need none still run, each on its own."""
    variables = {"SOUNDING_CACHE_DIR": str(tmp_path / "cache"), "SOUNDING_ENV": "web",
                 "SOUNDING_WEB__ALLOW_PRIVATE_ADDRESSES": "true", "SOUNDING_WEB__FETCH": "direct",
                 "SOUNDING_WEB__SEARCH": "serper"}
    if not bwrap_path():
        variables["SOUNDING_WEB__ALLOW_UNSANDBOXED"] = "true"
    app, runner = _cli(monkeypatch, variables)
    for args, stdin in ((["{\"code\": \"print(6 * 7)\"}"], None),
                        (["{}", "--code", "print(6 * 7)"], None),
                        (["--code", "-"], "print(6 * 7)\n")):
        result = runner.invoke(app, ["tool", "PythonInterpreter", *args], input=stdin)
        assert result.exit_code == 0, result.output
        assert result.stdout == "stdout:\n42\n"
    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.md").write_text("The cave is 72 metres deep.")
    parsed = runner.invoke(app, ["tool", "parse_file", '{"files": ["notes.md"]}',
                                 "--files", str(files)])
    assert parsed.exit_code == 0 and "72 metres deep" in parsed.stdout
    no_dir = runner.invoke(app, ["tool", "parse_file", '{"files": ["notes.md"]}'])
    assert no_dir.exit_code == 2 and "--files DIR" in no_dir.output
    visit = runner.invoke(app, ["tool", "visit", json.dumps(
        {"url": [f"{providers.base_url}/pages/cave"], "goal": "Hebrides overture"})])
    assert visit.exit_code == 0 and "Hebrides overture" in visit.stdout
    search = runner.invoke(app, ["tool", "search", '{"query": ["x"]}'])
    assert search.exit_code == 2 and "SERPER_API_KEY" in search.output
    bad_code = runner.invoke(app, ["tool", "PythonInterpreter", '{"code": 42}'])
    assert bad_code.exit_code == 2 and "must be a string" in bad_code.output


def test_ask_env_web_still_names_the_missing_key(isolated_env: Path, tmp_path: Path) -> None:
    """The whole environment is built for `ask`: a chosen provider without its key stops it."""
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("SOUNDING_") and not k.endswith("_API_KEY")}
    with LoopbackServer({"/v1/models": Reply(body={"data": []})}) as llm:
        proc = subprocess.run(
            [sys.executable, "-m", "sounding", "ask", "q", "--env", "web", "--quiet",
             "--base-url", f"{llm.base_url}/v1", "--model", "m"],
            capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
            env={**clean, "SOUNDING_CACHE_DIR": str(tmp_path / "cache"),
                 "SOUNDING_WEB__SEARCH": "serper"})
    assert proc.returncode == 2, proc.stderr
    assert "SERPER_API_KEY" in proc.stderr and "no usable search provider" in proc.stderr


async def test_agent_run_uses_all_five_web_tools(providers: LoopbackServer,
                                                 tmp_path: Path) -> None:
    """`ask --env web` in-process: the scripted agent calls every tool; the trajectory
    records provider, cache and errors per call."""
    from sounding.agent import arun

    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.txt").write_text("The launch code is 7731.")
    settings = web_settings(providers, tmp_path, **{"web.files_dir": files,
                                                    "llm.base_url": "http://127.0.0.1:9/v1",
                                                    "llm.model": "scripted"})

    def call(name: str, arguments: dict[str, object], code: str | None = None) -> str:
        body = json.dumps({"name": name, "arguments": arguments})
        extra = f"\n<code>\n{code}\n</code>" if code else ""
        return f"<think>next</think>\n<tool_call>\n{body}{extra}\n</tool_call>"

    turns = [call("search", {"query": ["Steve Jobs"]}),
             call("google_scholar", {"query": ["apple inc"]}),
             call("visit", {"url": [f"{providers.base_url}/pages/cave"], "goal": "depth"}),
             call("parse_file", {"files": ["notes.txt"]})]
    if bwrap_path():
        turns.append(call("PythonInterpreter", {}, code="print(6 * 7)"))
    turns.append("<think>done</think>\n<answer>72 metres</answer>")
    summary = ScriptedModel([json.dumps({"rational": "t", "evidence": "Depth 72 metres",
                                         "summary": "72 m deep"})])
    env = web_environment(settings, summary_model=summary)
    trajectory = await arun("How deep is Fingal's Cave?", settings, model=ScriptedModel(turns),
                            environment=env)
    await env.aclose()
    records = {r.call.name: r for r in trajectory.tool_calls}
    assert trajectory.answer == "72 metres"
    assert all(r.error is None for r in trajectory.tool_calls), [r.error for r in
                                                                 trajectory.tool_calls]
    assert records["search"].provider == "serper"
    assert records["google_scholar"].provider == "serper_scholar"
    assert records["visit"].provider == "direct" and "72 m deep" in records["visit"].observation
    assert "7731" in records["parse_file"].observation
    if bwrap_path():
        assert records["PythonInterpreter"].observation == "stdout:\n42\n"
        assert records["PythonInterpreter"].provider == "bwrap"
