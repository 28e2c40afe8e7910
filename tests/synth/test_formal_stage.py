"""The formal stage: candidates, kept items re-verified in SQL, resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sounding.errors import ConfigError
from sounding.synth.executor import Executor, check
from sounding.synth.formal import FormalConfig, FormalGenerator
from sounding.synth.graph import connect_graph
from sounding.synth.pipeline import load_kb, run_formal
from sounding.synth.spec import Const, Spec, Var
from sounding.synth.stage import read_jsonl
from sounding.synth.verify import sql_answers


def test_generated_specs_respect_the_invariants(vital_graph: Path) -> None:
    kb = load_kb(vital_graph)
    gen = FormalGenerator(kb, FormalConfig(layers=2))
    kept = 0
    for i in range(40):
        cand = gen.candidate(i)
        assert cand.check is not None
        if not cand.check.ok:
            continue
        kept += 1
        assert cand.check.answers == {cand.answer}
        depth = cand.spec.depth()
        for t in cand.spec.triples:
            assert isinstance(t.subject, Var)  # no constant-constant triple
            if isinstance(t.object, Const) and not t.op:
                assert depth[t.subject.name] >= 1  # no exact constant on the target
        assert check(Executor(kb), cand.spec).ok
    assert kept >= 5


def test_stage_keeps_verified_items(vital_graph: Path, tmp_path: Path) -> None:
    stage = run_formal(vital_graph, tmp_path / "f", n=50)
    rows = list(read_jsonl(tmp_path / "f" / "items.jsonl"))
    assert stage.kept == len(rows) > 0
    assert stage.seen == 50 and sum(stage.reasons.values()) == 50 - len(rows)
    conn = connect_graph(vital_graph)
    for row in rows:
        spec = Spec.from_json(row["spec"])  # type: ignore[arg-type]
        assert sql_answers(conn, spec) == {row["answer_id"]}
        assert row["answer"] in row["aliases"]  # type: ignore[operator]
        assert row["question"]["zh"].startswith("请找出X")  # type: ignore[index]
        assert row["provenance"]["formal"][0][0] in ("?", "V@v0", "V@v1")  # type: ignore[index]


def test_resume_after_kill(vital_graph: Path, tmp_path: Path) -> None:
    out = tmp_path / "f"
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from sounding.synth.pipeline import run_formal
        def die(stage):
            if stage.seen == 17:
                os.kill(os.getpid(), signal.SIGKILL)
        run_formal(Path({str(vital_graph)!r}), Path({str(out)!r}), n=40, progress=die)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    before = len(list(read_jsonl(out / "items.jsonl"))) + len(
        list(read_jsonl(out / "rejected.jsonl")))
    assert before == 17
    stage = run_formal(vital_graph, out, n=40)
    keys = [r["key"] for r in read_jsonl(out / "items.jsonl")] + [
        r["key"] for r in read_jsonl(out / "rejected.jsonl")]
    assert len(keys) == len(set(keys)) == 40
    assert stage.manifest()["status"] == "done"
    fresh = run_formal(vital_graph, tmp_path / "g", n=40)
    assert fresh.kept == stage.kept  # the resumed run kept exactly what a clean run keeps
    more = run_formal(vital_graph, out, n=45)  # a larger n extends the run
    assert more.seen == 45
    with pytest.raises(ConfigError):  # other parameters would mix two runs in one folder
        run_formal(vital_graph, out, n=45, config=FormalConfig(layers=3))
