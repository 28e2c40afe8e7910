"""`generate_report`: plan, write, check and render a report in a resumable run directory."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..agent.api import settings_snapshot
from ..agent.loop import RunContext
from ..config import Settings
from ..env import Environment, build_environment
from ..errors import ConfigError
from ..llm.base import ChatModel
from ..trace.events import RunEvent
from ..trace.observers import Observer, observer_callback
from ..trace.recorder import Recorder
from ..trace.trajectory import Trajectory
from ..types import JSONObject
from ._tools import PlannerState
from .check import ClaimJudge, LLMClaimJudge
from .evidence import EvidenceBank
from .outline import Outline
from .planner import planner_environment, run_planner
from .render import Document, to_html, to_markdown
from .revise import Action, CheckedClaim, CheckStats, check_sections
from .store import RunDir
from .writer import WrittenSection, write_section

__all__ = ["ReportOptions", "ReportResult", "generate_report", "report_json", "write_outputs"]


@dataclass(frozen=True)
class ReportOptions:
    """What `sounding report` does beyond the agent settings."""

    max_sections: int = 8
    """Most sections the planner may plan."""
    on_unsupported: Action = "rewrite"
    """What becomes of a cited sentence its evidence does not support."""
    plan_only: bool = False
    """Stop after the outline (`outline.md`, editable)."""
    outline_file: Path | None = None
    """An edited outline to write from (the run's evidence bank must hold its ids)."""
    pdf: bool = False
    """Also write report.pdf (needs the `pdf` extra: WeasyPrint)."""
    judge_batch: int = 8
    """Claims per judge call."""
    judge_concurrency: int = 8
    """Judge calls in flight."""


@dataclass
class ReportResult:
    out: Path
    stage: Literal["planned", "done"]
    outline: Outline
    stats: CheckStats | None = None
    calls: dict[str, int] = field(default_factory=dict)
    """Model calls of this invocation by purpose (turn, extract, write_section, ...)."""

    @property
    def model_calls(self) -> int:
        return sum(self.calls.values())


async def generate_report(
    topic: str | None, settings: Settings, out: Path, options: ReportOptions = ReportOptions(),
    *, model: ChatModel | None = None, environment: Environment | None = None,
    judge: ClaimJudge | None = None, observer: Observer | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> ReportResult:
    """Research `topic` and write the report into `out`, resuming what is there.

    `model` and `environment` (built from `settings` when not given, closed here
    then) are shared by all stages; `judge` defaults to an LLM judge on `model`.
    """
    run = RunDir(out)
    if not topic and options.outline_file is not None and not run.state().get("topic"):
        topic = _outline_topic(options.outline_file)
    topic = run.topic(topic)
    run.update_state(topic=topic)
    own_model, own_env = model is None, environment is None
    if model is None:
        from ..llm.openai_client import OpenAIChatModel

        settings.require_llm()
        model = OpenAIChatModel(settings.llm)
    try:
        if environment is None:
            environment = build_environment(settings, summary_model=model)
        return await _Pipeline(run, topic, settings, model, environment, options, judge,
                               observer, on_event).run()
    finally:
        if own_env and environment is not None:
            await environment.aclose()
        if own_model:
            await model.aclose()


class _Pipeline:
    def __init__(self, run: RunDir, topic: str, settings: Settings, model: ChatModel,
                 env: Environment, options: ReportOptions, judge: ClaimJudge | None,
                 observer: Observer | None,
                 on_event: Callable[[RunEvent], None] | None = None) -> None:
        self.run_dir, self.topic, self.options = run, topic, options
        self.bank = run.bank()
        self.state = PlannerState(topic, self.bank)
        trajectory = Trajectory(question=topic, mode="report", protocol=settings.protocol,
                                model=settings.llm.model or model.name,
                                settings=settings_snapshot(settings))  # type: ignore[arg-type]
        recorder = Recorder(trajectory)
        emit = on_event if observer is None else observer_callback(observer, recorder)
        self.ctx = RunContext(trajectory, settings, model, planner_environment(env, self.state),
                              emit=emit, recorder=recorder)
        self.judge = judge or LLMClaimJudge(model, batch=options.judge_batch,
                                            concurrency=options.judge_concurrency,
                                            on_call=self.ctx.record_call)

    def note(self, text: str) -> None:
        self.ctx.note(text)

    async def run(self) -> ReportResult:
        try:
            outline = await self.plan()
            if self.options.plan_only:
                self.note(f"outline written to {self.run_dir.file('outline.md')}")
                return self.finish("planned", outline, None)
            sections = await self.write(outline)
            texts, claims = await self.check(sections)
            doc = Document(self.topic, [(s.title, t) for s, t in zip(sections, texts,
                                                                     strict=True)],
                           self.bank, CheckStats.of(claims))
            result = self.finish("done", outline, doc.stats)
            write_outputs(self.run_dir.path, doc, claims, result, pdf=self.options.pdf)
            return result
        except BaseException:
            self.ctx.trajectory.termination = "error"
            self.save_trajectory()
            raise

    async def plan(self) -> Outline:
        if self.options.outline_file is not None:
            outline = _read_outline(self.options.outline_file, self.topic, self.bank)
            self.run_dir.save_outline(outline)
            self.run_dir.update_state(stage="planned")
            return outline
        saved = self.run_dir.outline()
        if saved is not None and self.run_dir.state().get("stage") in ("planned", "done"):
            self.note("planning: reusing the saved outline")
            return saved
        outline, termination = await run_planner(self.ctx, self.state, self.options.max_sections)
        self.ctx.trajectory.termination = termination
        self.run_dir.save_outline(outline)
        self.run_dir.update_state(stage="planned")
        self.note(f"outline: {len(outline.sections)} sections, {len(self.bank)} evidence")
        return outline

    async def write(self, outline: Outline) -> list[WrittenSection]:
        done: list[WrittenSection] = []
        for number, sec in enumerate(outline.sections, 1):
            written = self.run_dir.section(number, sec.key())
            if written is None:
                written, request, completion = await write_section(
                    self.ctx.model, self.ctx.sampling, outline, number, self.bank, done)
                self.ctx.record_call(request, completion)
                self.run_dir.save_section(number, written)
                self.note(f"section {number}/{len(outline.sections)} written: {sec.title}")
            done.append(written)
        return done

    async def check(self, sections: list[WrittenSection]) -> tuple[list[str], list[CheckedClaim]]:
        keys = [s.key for s in sections] + [self.options.on_unsupported]
        saved = self.run_dir.check(keys)
        if saved is not None:
            return saved
        texts, claims = await check_sections([s.text for s in sections], self.bank, self.judge,
                                             self.options.on_unsupported)
        self.run_dir.save_check(keys, texts, claims)
        self.note(CheckStats.of(claims).sentence())
        return texts, claims

    def finish(self, stage: Literal["planned", "done"], outline: Outline,
               stats: CheckStats | None) -> ReportResult:
        calls = dict(Counter(c.purpose for c in self.ctx.trajectory.model_calls))
        self.ctx.finish(str(self.run_dir.file("report.md")) if stage == "done" else None,
                        self.ctx.trajectory.termination or "answer")
        self.save_trajectory()
        self.run_dir.update_state(stage=stage)
        return ReportResult(self.run_dir.path, stage, outline, stats, calls)

    def save_trajectory(self) -> None:
        self.ctx.trajectory.append_to(self.run_dir.file("trajectory.jsonl"))


def _outline_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the outline {path}: {exc}") from exc


def _outline_topic(path: Path) -> str | None:
    """The topic an outline file names in its `# Outline: TOPIC` line, if any."""
    return Outline.from_markdown(_outline_text(path)).topic or None


def _read_outline(path: Path, topic: str, bank: EvidenceBank) -> Outline:
    outline = Outline.from_markdown(_outline_text(path), topic)
    unknown = [i for i in outline.evidence() if i not in bank]
    if unknown:
        raise ConfigError(f"{path} cites evidence this run does not hold: {', '.join(unknown)} "
                          "(use the --out directory of the --plan-only run)")
    return Outline(topic or outline.topic, outline.sections)


def report_json(doc: Document, claims: list[CheckedClaim],
                calls: dict[str, int] | None = None) -> JSONObject:
    """`report.json`: sections, claims with verdicts, references and all evidence."""
    return {
        "topic": doc.topic,
        "sections": [{"title": t, "text": x} for t, x in doc.sections],
        "claims": [c.to_dict() for c in claims],
        "check": doc.stats.to_dict() if doc.stats else None,
        "references": [{"n": n, "evidence": ev.id, "url": ev.url, "title": ev.title,
                        "quote": ev.quote} for n, ev in doc.references()],
        "evidence": [ev.to_dict() for ev in doc.bank],
        "model_calls": dict(calls or {}),
    }


def write_outputs(out: Path, doc: Document, claims: list[CheckedClaim],
                  result: ReportResult | None = None, *, pdf: bool = False) -> None:
    """report.md, report.html, report.json (and report.pdf when asked)."""
    (out / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    page = to_html(doc)
    (out / "report.html").write_text(page, encoding="utf-8")
    data = report_json(doc, claims, result.calls if result else None)
    (out / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=1),
                                     encoding="utf-8")
    if pdf:
        from .pdf import write_pdf

        write_pdf(page, out / "report.pdf")
