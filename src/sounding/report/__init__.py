"""Long reports: a planner that keeps an evidence bank and an outline, a section writer,
and a check of every cited sentence against the evidence it cites."""

from .check import Claim, ClaimJudge, LLMClaimJudge, Verdict, extract_claims
from .evidence import Evidence, EvidenceBank
from .outline import Outline, Point, Section
from .pipeline import ReportOptions, ReportResult, generate_report
from .revise import CheckedClaim, CheckStats
from .verify import verify_report

__all__ = [
    "CheckStats",
    "CheckedClaim",
    "Claim",
    "ClaimJudge",
    "Evidence",
    "EvidenceBank",
    "LLMClaimJudge",
    "Outline",
    "Point",
    "ReportOptions",
    "ReportResult",
    "Section",
    "Verdict",
    "extract_claims",
    "generate_report",
    "verify_report",
]
