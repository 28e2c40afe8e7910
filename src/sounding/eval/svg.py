"""Tiny inline-SVG charts for the HTML report (no plotting dependency)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "bar_chart", "strip_plot"]

PALETTE = ("#3b6ea8", "#e07b39", "#4d9a55", "#b8475a", "#7a5aa8", "#8c8c8c")
W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 34, 64


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    intervals: Sequence[tuple[float, float] | None] | None = None


def _frame(title: str, body: list[str], legend: Sequence[str] = ()) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" '
             f'width="{W}" height="{H}" role="img" aria-label="{escape(title)}" '
             'font-family="sans-serif" font-size="11">',
             f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="13" '
             f'font-weight="bold">{escape(title)}</text>', *body]
    for i, name in enumerate(legend):
        x = W - RIGHT - 150
        y = TOP + 4 + 14 * i
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{x + 14}" y="{y + 9}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(ymax: float, percent: bool) -> list[str]:
    out = []
    plot_h = H - TOP - BOTTOM
    for i in range(5):
        v = ymax * i / 4
        y = H - BOTTOM - plot_h * i / 4
        label = f"{100 * v:.0f}%" if percent else (f"{v:.0f}" if ymax >= 4 else f"{v:.2g}")
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#ddd"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    return out


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], *,
              percent: bool = True, ymax: float | None = None) -> str:
    """Grouped bars, one group per category, with optional interval whiskers."""
    values = [v for s in series for v in s.values if v is not None]
    highs = [iv[1] for s in series for iv in (s.intervals or []) if iv is not None]
    top = ymax if ymax is not None else max([*values, *highs, 1e-9])
    if not percent and ymax is None:
        top = _nice(top)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    group_w = plot_w / max(1, len(categories))
    bar_w = group_w * 0.8 / max(1, len(series))
    body = _y_axis(top, percent)

    def y_of(v: float) -> float:
        return H - BOTTOM - plot_h * min(v, top) / top

    for gi, cat in enumerate(categories):
        x0 = LEFT + gi * group_w + group_w * 0.1
        for si, s in enumerate(series):
            v = s.values[gi] if gi < len(s.values) else None
            if v is None:
                continue
            x = x0 + si * bar_w
            label = f"{100 * v:.1f}%" if percent else f"{v:g}"
            body.append(f'<rect x="{x:.1f}" y="{y_of(v):.1f}" width="{bar_w - 2:.1f}" '
                        f'height="{H - BOTTOM - y_of(v):.1f}" fill="{PALETTE[si % 6]}">'
                        f'<title>{escape(s.name)} {escape(cat)}: {label}</title></rect>')
            iv = s.intervals[gi] if s.intervals and gi < len(s.intervals) else None
            if iv is not None:
                cx = x + (bar_w - 2) / 2
                body.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_of(iv[0]):.1f}" '
                            f'y2="{y_of(iv[1]):.1f}" stroke="#222" stroke-width="1.5"/>')
                for b in iv:
                    body.append(f'<line x1="{cx - 4:.1f}" x2="{cx + 4:.1f}" y1="{y_of(b):.1f}" '
                                f'y2="{y_of(b):.1f}" stroke="#222" stroke-width="1.5"/>')
        body.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{H - BOTTOM + 16}" '
                    f'text-anchor="middle">{escape(cat)}</text>')
    legend = [s.name for s in series] if len(series) > 1 else []
    return _frame(title, body, legend)


def _nice(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= v:
            return float(m * exp)
    return float(10 * exp)


def strip_plot(title: str, groups: Mapping[str, Sequence[float]], *, xlabel: str) -> str:
    """One horizontal strip of dots per group (log x axis when values span decades)."""
    values = [v for vs in groups.values() for v in vs if v > 0]
    if not values:
        return _frame(title, [f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">'
                              'no data</text>'])
    lo, hi = min(values), max(values)
    log = hi / lo > 50
    a, b = (math.log10(lo), math.log10(hi)) if log else (0.0, hi)
    span = (b - a) or 1.0
    plot_w = W - LEFT - RIGHT - 60

    def x_of(v: float) -> float:
        t = ((math.log10(v) if log else v) - a) / span
        return LEFT + 60 + plot_w * t

    body: list[str] = []
    row_h = (H - TOP - BOTTOM) / max(1, len(groups))
    for gi, (name, vs) in enumerate(groups.items()):
        yc = TOP + row_h * (gi + 0.5)
        body.append(f'<text x="{LEFT + 52}" y="{yc + 4:.1f}" text-anchor="end">'
                    f'{escape(name)} (n={len(vs)})</text>')
        for i, v in enumerate(vs):
            if v <= 0 and log:
                continue
            jitter = ((i * 37) % 21 - 10) / 10 * row_h * 0.3  # deterministic jitter
            body.append(f'<circle cx="{x_of(v):.1f}" cy="{yc + jitter:.1f}" r="2.5" '
                        f'fill="{PALETTE[gi % 6]}" fill-opacity="0.55"/>')
        if vs:
            med = sorted(vs)[len(vs) // 2]
            if med > 0 or not log:
                body.append(f'<line x1="{x_of(med):.1f}" x2="{x_of(med):.1f}" '
                            f'y1="{yc - row_h * 0.4:.1f}" y2="{yc + row_h * 0.4:.1f}" '
                            'stroke="#222" stroke-width="2"><title>median '
                            f'{med:g}</title></line>')
    for t in range(5):
        raw = a + span * t / 4
        v = 10 ** raw if log else raw
        body.append(f'<text x="{x_of(v):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                    f'{_short(v)}</text>')
    body.append(f'<text x="{W / 2}" y="{H - 20}" text-anchor="middle">{escape(xlabel)}'
                f'{" (log scale)" if log else ""}</text>')
    return _frame(title, body)


def _short(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.1f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"
