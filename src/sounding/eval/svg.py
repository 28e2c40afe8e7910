"""Tiny inline-SVG charts for the HTML report (no plotting dependency).

Checked by eye in headless Chromium: axis titles, legends below the plot (never over
bars), x labels rotated or thinned before they overlap, shared scales, "no data" frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "bar_chart", "nice_ticks", "strip_plot"]

PALETTE = ("#3b6ea8", "#e07b39", "#4d9a55", "#b8475a", "#7a5aa8", "#8c8c8c")
W = 640
LEFT, RIGHT, TOP, PLOT_H = 64, 16, 34, 200
CHAR_W = 6.2  # average width of an 11px sans-serif character, for layout estimates
ROTATE = 35


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    intervals: Sequence[tuple[float, float] | None] | None = None


def _svg(title: str, height: float, body: Sequence[str]) -> str:
    return "".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height:.0f}" '
        f'width="{W}" height="{height:.0f}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="13" '
        f'font-weight="bold">{escape(title)}</text>', *body, "</svg>"])


def _empty(title: str) -> str:
    return _svg(title, 90, [f'<text x="{W / 2}" y="56" text-anchor="middle" fill="#777">'
                            'no data</text>'])


def _legend(names: Sequence[str], y: float) -> list[str]:
    """One centred row of swatches (below the plot, where it can cover nothing)."""
    widths = [24 + CHAR_W * len(n) for n in names]
    x = (W - sum(widths)) / 2
    out = []
    for i, (name, w) in enumerate(zip(names, widths, strict=True)):
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{x + 14:.1f}" '
                   f'y="{y:.1f}">{escape(name)}</text>')
        x += w
    return out


def _y_axis(top: float, percent: bool, ylabel: str) -> list[str]:
    out = []
    for i in range(5):
        v = top * i / 4
        y = TOP + PLOT_H - PLOT_H * i / 4
        label = f"{100 * v:.0f}%" if percent else _short(v)
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{"#999" if i == 0 else "#e3e3e3"}"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    if ylabel:
        cy = TOP + PLOT_H / 2
        out.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" '
                   f'transform="rotate(-90 14 {cy:.1f})">{escape(ylabel)}</text>')
    return out


def _x_labels(categories: Sequence[str], group_w: float) -> tuple[list[str], float]:
    """Category labels under the plot and the height they take (rotated when crowded)."""
    longest = max(len(c) for c in categories) * CHAR_W
    rotate = longest > group_w * 0.9
    every = max(1, math.ceil(14 / group_w)) if rotate else 1  # rotated labels are ~14px apart
    base = TOP + PLOT_H
    out = []
    for i, cat in enumerate(categories):
        if i % every:
            continue
        x = LEFT + group_w * (i + 0.5)
        if rotate:
            out.append(f'<text x="{x:.1f}" y="{base + 14}" text-anchor="end" '
                       f'transform="rotate(-{ROTATE} {x:.1f} {base + 10})">{escape(cat)}</text>')
        else:
            out.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
                       f'{escape(cat)}</text>')
    height = longest * math.sin(math.radians(ROTATE)) + 20 if rotate else 22
    return out, height


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], *,
              percent: bool = True, ymax: float | None = None, xlabel: str = "",
              ylabel: str = "") -> str:
    """Grouped bars, one group per category, with optional interval whiskers."""
    values = [v for s in series for v in s.values if v is not None]
    if not categories or not values:
        return _empty(title)
    highs = [iv[1] for s in series for iv in (s.intervals or []) if iv is not None]
    top = ymax if ymax is not None else max([*values, *highs])
    top = _nice(top, (1, 2, 4, 8, 10)) if not percent and ymax is None else top  # 4 round steps
    top = top if top > 0 else 1.0
    group_w = (W - LEFT - RIGHT) / len(categories)
    bar_w = group_w * 0.8 / len(series)
    base = TOP + PLOT_H

    def y_of(v: float) -> float:
        return base - PLOT_H * max(0.0, min(v, top)) / top

    body = _y_axis(top, percent, ylabel)
    for gi, cat in enumerate(categories):
        for si, s in enumerate(series):
            v = s.values[gi] if gi < len(s.values) else None
            if v is None:
                continue
            iv = s.intervals[gi] if s.intervals and gi < len(s.intervals) else None
            x = LEFT + gi * group_w + group_w * 0.1 + si * bar_w
            body += _bar(x, bar_w - 2, y_of, base, v, iv, PALETTE[si % len(PALETTE)],
                         f"{s.name} {cat}", percent)
    labels, label_h = _x_labels(categories, group_w)
    body += labels
    y = base + label_h
    if xlabel:
        body.append(f'<text x="{LEFT + (W - LEFT - RIGHT) / 2}" y="{y + 12:.1f}" '
                    f'text-anchor="middle">{escape(xlabel)}</text>')
        y += 18
    if len(series) > 1:
        body += _legend([s.name for s in series], y + 14)
        y += 20
    return _svg(title, y + 8, body)


def _bar(x: float, w: float, y_of: Callable[[float], float], base: float, v: float,
         iv: tuple[float, float] | None, color: str, name: str, percent: bool) -> list[str]:
    label = f"{100 * v:.1f}%" if percent else f"{v:g}"
    out = [f'<rect x="{x:.1f}" y="{y_of(v):.1f}" width="{w:.1f}" height="{base - y_of(v):.1f}" '
           f'fill="{color}"><title>{escape(name)}: {label}</title></rect>']
    cx = x + w / 2
    if iv is not None:
        out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_of(iv[0]):.1f}" '
                   f'y2="{y_of(iv[1]):.1f}" stroke="#222" stroke-width="1.5"/>')
        out += [f'<line x1="{cx - 4:.1f}" x2="{cx + 4:.1f}" y1="{y_of(b):.1f}" '
                f'y2="{y_of(b):.1f}" stroke="#222" stroke-width="1.5"/>' for b in iv]
    if w >= CHAR_W * len(label) + 4:  # wide bars carry their value (whiskers stay clear)
        if base - y_of(v) >= 18:
            out.append(f'<text x="{cx:.1f}" y="{base - 6:.1f}" text-anchor="middle" '
                       f'fill="#fff">{label}</text>')
        else:
            above = min(y_of(v), y_of(iv[1]) if iv else y_of(v))
            out.append(f'<text x="{cx:.1f}" y="{above - 4:.1f}" text-anchor="middle">'
                       f'{label}</text>')
    return out


def _nice(v: float, steps: Sequence[float] = (1, 2, 2.5, 5, 10)) -> float:
    """The smallest `m * 10**e` (m in steps) at least v."""
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in steps:
        if m * exp >= v:
            return float(m * exp)
    return float(10 * exp)


def nice_ticks(hi: float, *, log_lo: float | None = None) -> list[float]:
    """Round tick values from 0 to >= hi (about 5), or powers of ten from log_lo to hi."""
    if log_lo is not None:
        return [10.0 ** e for e in range(math.floor(math.log10(log_lo)),
                                         math.ceil(math.log10(hi)) + 1)]
    step = _nice(hi / 5) if hi > 0 else 1.0
    return [step * i for i in range(math.ceil(hi / step - 1e-9) + 1)]


def strip_plot(title: str, groups: Mapping[str, Sequence[float]], *, xlabel: str,
               colors: Mapping[str, str] | None = None) -> str:
    """One horizontal strip of dots per group on a shared x axis (log when values span
    decades), with each group's median marked and named. `colors` fixes a group's colour
    (one colour per meaning, e.g. correct / wrong, whatever the run)."""
    values = [v for vs in groups.values() for v in vs]
    if not values or max(values) <= 0:
        return _empty(title)
    positive = [v for v in values if v > 0]
    log = min(positive) > 0 and max(values) / min(positive) > 50
    ticks = nice_ticks(max(values), log_lo=min(positive) if log else None)
    a, b = (math.log10(ticks[0]), math.log10(ticks[-1])) if log else (0.0, ticks[-1])
    x0, plot_w = LEFT, W - LEFT - RIGHT

    def x_of(v: float) -> float:
        t = ((math.log10(max(v, ticks[0])) if log else v) - a) / ((b - a) or 1.0)
        return x0 + plot_w * t

    row_h, body = 48, []
    axis_y = TOP + 20 + row_h * len(groups) + 4
    body.append(f'<line x1="{x0}" x2="{W - RIGHT}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    for t in ticks:  # grid first, so the dots are drawn over it
        x = x_of(t)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + 20}" y2="{axis_y + 4}" '
                    f'stroke="#e3e3e3"/><text x="{x:.1f}" y="{axis_y + 16}" '
                    f'text-anchor="middle">{_short(t)}</text>')
    for gi, (name, vs) in enumerate(groups.items()):
        yc = TOP + 20 + row_h * gi + row_h / 2
        med = sorted(vs)[len(vs) // 2] if vs else None
        label = f"{name} (n={len(vs)}" + (f", median {_short(med)})" if med is not None else ")")
        body.append(f'<text x="{x0}" y="{yc - row_h / 2 + 8:.1f}" fill="#444">'
                    f'{escape(label)}</text>')
        for i, v in enumerate(vs):
            jitter = ((i * 37) % 21 - 10) / 10 * row_h * 0.22  # deterministic jitter
            body.append(f'<circle cx="{x_of(v):.1f}" cy="{yc + 4 + jitter:.1f}" r="2.5" '
                        f'fill="{(colors or {}).get(name, PALETTE[gi % len(PALETTE)])}" '
                        'fill-opacity="0.55"/>')
        if med is not None:
            body.append(f'<line x1="{x_of(med):.1f}" x2="{x_of(med):.1f}" y1="{yc - 8:.1f}" '
                        f'y2="{yc + 16:.1f}" stroke="#222" stroke-width="2"/>')
    body.append(f'<text x="{x0 + plot_w / 2}" y="{axis_y + 34}" text-anchor="middle">'
                f'{escape(xlabel)}{" (log scale)" if log else ""}; black bar: median</text>')
    return _svg(title, axis_y + 44, body)


def _short(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M" if v % 1e5 == 0 else f"{v / 1e6:.1f}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k" if v % 100 == 0 else f"{v / 1e3:.1f}k"
    return f"{v:g}" if v == int(v) else f"{v:.2g}"
