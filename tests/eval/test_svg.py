"""The report's SVG charts: layout rules that were checked by eye in a browser, kept."""

from __future__ import annotations

import re

from sounding.eval.svg import Series, bar_chart, nice_ticks, strip_plot


def numbers(svg: str, pattern: str) -> list[float]:
    return [float(x) for x in re.findall(pattern, svg)]


def test_bar_chart_axes_legend_and_labels() -> None:
    svg = bar_chart("Accuracy", ["Avg@k", "Pass@k"], [
        Series("a", [0.5, 0.9], [(0.4, 0.6), (0.8, 1.0)]), Series("b", [0.3, 0.7])],
        ymax=1.0, ylabel="accuracy")
    assert "accuracy</text>" in svg and "100%</text>" in svg and "50.0%</text>" in svg
    plot_bottom = 34 + 200
    legend_y = numbers(svg, r'<rect x="[\d.]+" y="([\d.]+)" width="10"')
    assert legend_y and min(legend_y) > plot_bottom  # below the axis, never over a bar
    assert svg.count('stroke="#222"') == 6  # two whiskers with two caps each
    counts = bar_chart("Ends", ["answer", "max_total_tokens_reached"] * 4,
                       [Series("n", [6.0] * 8)], percent=False)
    assert "rotate(-35" in counts  # crowded labels are slanted, not overlapped
    assert ">8</text>" in counts and ">2</text>" in counts and "2.5" not in counts


def test_empty_charts_say_so() -> None:
    assert "no data" in bar_chart("Ends", [], [Series("n", [])], percent=False)
    assert "no data" in strip_plot("Tokens", {"correct": [], "wrong": []}, xlabel="tokens")


def test_strip_plot_shares_round_ticks() -> None:
    svg = strip_plot("Tokens", {"a: correct": [1200.0, 30000.0], "b: wrong": [900.0]},
                     xlabel="tokens")
    assert "a: correct (n=2, median 30k)" in svg and "b: wrong (n=1, median 900)" in svg
    assert re.findall(r">(?:0|\d+k)<", svg) == [">0<", ">10k<", ">20k<", ">30k<"]
    log = strip_plot("Tokens", {"x": [10.0, 90000.0]}, xlabel="tokens")
    assert "(log scale)" in log and ">100k<" in log
    assert nice_ticks(97_900) == [0, 20_000, 40_000, 60_000, 80_000, 100_000]
