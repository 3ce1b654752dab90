"""Charts of evaluation runs as SVG (retrieval metrics over k; a refusal trade-off): text,
diffable, shown inline by Markdown viewers, and drawn without a plotting dependency."""

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


SQUARE, SQ_LEFT, SQ_TOP, SQ_LEGEND = 360, 60, 36, 150


def tradeoff_svg(curves: dict[str, Sequence[tuple[float, float, float]]],
                 marks: dict[str, tuple[float, float]] | None = None,
                 target: tuple[float, float] | None = None, title: str = "") -> str:
    """A refusal trade-off: false refusals (x, answerable questions refused) against refused
    unanswerable questions (y), one curve per rule over its threshold, both axes 0..1.

    ``curves`` maps a rule to ``(false_refusal, refused_unanswerable, threshold)`` points; each is a
    ``<circle>`` with ``data-series``, ``data-threshold``, ``data-x`` and ``data-y``. ``marks`` are
    single settings (e.g. the shipped one), drawn as squares with ``data-mark``; ``target`` =
    (most false refusals, fewest unanswerable refused) shades the region that meets both.
    """
    def px(value: float) -> float:
        return SQ_LEFT + SQUARE * max(0.0, min(1.0, value))

    def py(value: float) -> float:
        return SQ_TOP + SQUARE * (1 - max(0.0, min(1.0, value)))

    width, height = SQ_LEFT + SQUARE + 20, SQ_TOP + SQUARE + SQ_LEGEND
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    if title:
        parts += [f'<title>{escape(title)}</title>', f'<text x="{SQ_LEFT}" y="{SQ_TOP - 14}" font-size="13">'
                  f'{escape(title)}</text>']
    if target is not None:
        parts.append(f'<rect x="{px(0):.1f}" y="{py(1):.1f}" width="{px(target[0]) - px(0):.1f}" '
                     f'height="{py(target[1]) - py(1):.1f}" fill="#e8f5e9" stroke="#9c9" data-target="1"/>')
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(f'<line x1="{px(tick):.1f}" x2="{px(tick):.1f}" y1="{py(0):.1f}" y2="{py(1):.1f}" stroke="#eee"/>')
        parts.append(f'<line x1="{px(0):.1f}" x2="{px(1):.1f}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{px(tick):.1f}" y="{py(0) + 15:.1f}" text-anchor="middle">{tick:.1f}</text>')
        parts.append(f'<text x="{px(0) - 6:.1f}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick:.1f}</text>')
    parts.append(f'<rect x="{px(0)}" y="{py(1)}" width="{SQUARE}" height="{SQUARE}" fill="none" stroke="#333"/>')
    parts.append(f'<text x="{px(0.5):.1f}" y="{py(0) + 30:.1f}" text-anchor="middle">false refusals</text>')
    parts.append(f'<text transform="translate(16 {py(0.5):.1f}) rotate(-90)" text-anchor="middle">'
                 'unanswerable refused</text>')
    legend_y = py(0) + 50
    for number, (name, points) in enumerate(curves.items()):
        colour = COLOURS[number % len(COLOURS)]
        ordered = sorted(points, key=lambda p: p[2])
        if len(ordered) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _ in ordered)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for x, y, t in ordered:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2" fill="{colour}" '
                         f'data-series="{escape(name)}" data-threshold="{t:.4f}" data-x="{x:.4f}" '
                         f'data-y="{y:.4f}"><title>{escape(name)}, threshold {t:.2f}: {x:.3f} false '
                         f'refusals, {y:.3f} refused</title></circle>')
        parts.append(f'<line x1="{SQ_LEFT}" x2="{SQ_LEFT + 20}" y1="{legend_y - 4:.1f}" '
                     f'y2="{legend_y - 4:.1f}" stroke="{colour}" stroke-width="2"/>'
                     f'<text x="{SQ_LEFT + 26}" y="{legend_y:.1f}">{escape(name)}</text>')
        legend_y += 16
    for number, (name, (x, y)) in enumerate((marks or {}).items()):
        colour = ("#000", "#d62728", "#2ca02c", "#ff7f0e")[number % 4]
        parts.append(f'<rect x="{px(x) - 4:.1f}" y="{py(y) - 4:.1f}" width="8" height="8" fill="{colour}" '
                     f'data-mark="{escape(name)}" data-x="{x:.4f}" data-y="{y:.4f}"><title>{escape(name)}: '
                     f'{x:.3f} false refusals, {y:.3f} refused</title></rect>')
        parts.append(f'<rect x="{SQ_LEFT + 6}" y="{legend_y - 8:.1f}" width="8" height="8" fill="{colour}"/>'
                     f'<text x="{SQ_LEFT + 26}" y="{legend_y:.1f}">{escape(name)}</text>')
        legend_y += 16
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
