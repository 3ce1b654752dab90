"""A line chart of retrieval metrics over k, as SVG: text, diffable, shown inline by Markdown
viewers, and drawn without a plotting dependency."""

from __future__ import annotations

from html import escape
from typing import Sequence

WIDTH, HEIGHT = 520, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 130, 20, 40
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def metrics_at_k_svg(ks: Sequence[int], series: dict[str, Sequence[float | None]], title: str = "") -> str:
    """One line per metric (e.g. ``{"hit@k": [...], "recall@k": [...]}``), values in [0, 1] at each k.

    Each point is a ``<circle>`` carrying ``data-metric``, ``data-k`` and ``data-value`` (and a
    hover title), so the chart can be checked as well as looked at. Missing values are skipped.
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (len(ks) - 1) if len(ks) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - max(0.0, min(1.0, value)))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    if title:
        parts.append(f'<title>{escape(title)}</title>')
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    for index, k in enumerate(ks):
        parts.append(f'<text x="{x(index):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{k}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">k</text>')
    for number, (metric, values) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        points = [(x(i), y(v), k, v) for i, (k, v) in enumerate(zip(ks, values)) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, k, v in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}" '
                         f'data-metric="{escape(metric)}" data-k="{k}" data-value="{v:.4f}">'
                         f'<title>{escape(metric)} at k={k}: {v:.3f}</title></circle>')
        legend_y = TOP + 14 + 18 * number
        parts.append(f'<line x1="{WIDTH - RIGHT + 14}" x2="{WIDTH - RIGHT + 34}" y1="{legend_y - 4}" '
                     f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{WIDTH - RIGHT + 40}" y="{legend_y}">{escape(metric)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
