"""`sounding report verify DIR`: check an existing (perhaps hand-edited) report again."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .check import ClaimJudge
from .render import Document, parse_markdown
from .revise import FLAG, Action, CheckedClaim, CheckStats, check_sections
from .store import RunDir

__all__ = ["verify_report"]


async def verify_report(out: Path, judge: ClaimJudge, action: Action = "flag",
                        ) -> tuple[CheckStats, list[CheckedClaim]]:
    """Re-read `out/report.md` (citations mapped to evidence ids through its reference
    list), judge every cited sentence, apply `action`, and rewrite the report files."""
    md = out / "report.md"
    if not md.is_file():
        raise ConfigError(f"{out} has no report.md to verify")
    run = RunDir(out)
    bank = run.bank()
    if not len(bank):
        raise ConfigError(f"{out} has no evidence.jsonl: verify needs the run's evidence")
    topic, sections = parse_markdown(md.read_text(encoding="utf-8"))
    texts = [t.replace(f" {FLAG}", "").replace(FLAG, "") for _, t in sections]
    checked, claims = await check_sections(texts, bank, judge, action)
    stats = CheckStats.of(claims)
    doc = Document(topic or run.topic(None), [(title, text) for (title, _), text in
                                              zip(sections, checked, strict=True)], bank, stats)
    from .pipeline import write_outputs

    write_outputs(out, doc, claims)
    return stats, claims
