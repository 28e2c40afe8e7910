"""`tune_process`: what a serving process sets for itself (and only it: `create_app`,
which tests and embedders call, leaves the interpreter as it is)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from sounding.config import Settings
from sounding.server import create_app
from sounding.server.app import GC_YOUNG, ServeConfig


def test_a_serving_process_tunes_the_collector_switches_and_allocator(tmp_path: Path) -> None:
    """Young collections every GC_YOUNG allocations, a 1 ms switch interval, and what
    exists once the app has started frozen out of later collections."""
    code = (
        "import gc, json, sys\n"
        "from fastapi.testclient import TestClient\n"
        "from sounding.config import Settings\n"
        "from sounding.server import create_app\n"
        "from sounding.server.app import ServeConfig, tune_process\n"
        "tune_process()\n"
        "frozen = gc.get_freeze_count()\n"
        f"config = ServeConfig(database={str(tmp_path / 'jobs.db')!r}, no_auth=True)\n"
        "with TestClient(create_app(Settings(), config)) as client:\n"
        "    client.get('/v1/models')\n"
        "    started = gc.get_freeze_count()\n"
        "print(json.dumps([gc.get_threshold(), sys.getswitchinterval(), frozen, started]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    threshold, interval, frozen, started = json.loads(out.splitlines()[-1])
    assert threshold == [GC_YOUNG, 20, 20]
    assert interval <= 0.001
    assert frozen == 0 and started > 10_000


def test_the_app_alone_leaves_the_interpreter_as_it_is(tmp_path: Path) -> None:
    before = (gc.get_threshold(), gc.get_freeze_count(), sys.getswitchinterval())
    app = create_app(Settings(), ServeConfig(database=str(tmp_path / "jobs.db"), no_auth=True))
    with TestClient(app) as client:
        assert client.get("/v1/models").status_code == 200
        assert (gc.get_threshold(), gc.get_freeze_count(), sys.getswitchinterval()) == before
