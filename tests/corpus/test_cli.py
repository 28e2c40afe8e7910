"""`sounding corpus build|stats|search|serve` end to end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from sounding.cli.corpus import app

runner = CliRunner()


def _jsonl(path: Path) -> Path:
    rows = [{"url": "https://x.org/tea", "title": "Tea", "text": "Tea is an aromatic beverage."},
            {"url": "https://x.org/coffee", "title": "Coffee",
             "text": "Coffee is brewed from roasted beans. Unlike tea it is not a leaf."}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    return path


def test_build_stats_search(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "d.jsonl")
    out = tmp_path / "c"
    result = runner.invoke(app, ["build", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 documents" in result.output and "skipped 1" in result.output
    assert "invalid JSON" in result.output
    again = runner.invoke(app, ["build", str(src), "--out", str(out), "--json"])
    assert json.loads(again.output)["unchanged"] == 2
    stats = json.loads(runner.invoke(app, ["stats", str(out)]).output)
    assert stats["documents"] == 2
    hits = runner.invoke(app, ["search", "roasted beans", "--corpus", str(out), "--json"])
    assert json.loads(hits.output)[0]["url"] == "https://x.org/coffee"
    text = runner.invoke(app, ["search", "aromatic", "--corpus", str(out)])
    assert "1. Tea" in text.output


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(tmp_path / "missing"), "--out",
                                 str(tmp_path / "c")])
    assert result.exit_code == 2
    assert runner.invoke(app, ["stats", str(tmp_path / "none")]).exit_code == 2


def test_serve_command(tmp_path: Path) -> None:
    out = tmp_path / "c"
    assert runner.invoke(app, ["build", str(_jsonl(tmp_path / "d.jsonl")), "--out",
                               str(out)]).exit_code == 0
    code = "from sounding.cli.corpus import app; app()"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(out), "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        r = httpx.get(match.group(0) + "/search", params={"q": "tea", "format": "json"})
        assert r.json()["results"][0]["url"] == "https://x.org/tea"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
