"""docs/refusal-tradeoff.svg: refused unanswerable questions against false refusals on MMLongBench-Doc
dev, one curve per refusal rule over its threshold, in plain SVG (no plotting library)."""

from __future__ import annotations

from pathlib import Path

W, H, LEFT, TOP, SIZE = 560, 470, 70, 30, 380
COLOURS = {"cross-encoder": "#1f77b4", "veto": "#ff7f0e", "evidence": "#2ca02c"}
LABELS = {"cross-encoder": "cross-encoder logit alone",
          "veto": "today's rules, refusal only if the cross-encoder agrees",
          "evidence": "evidence model (shipped rule)"}


def _xy(false_refusal: float, refused: float) -> tuple[float, float]:
    return LEFT + false_refusal * SIZE, TOP + (1 - refused) * SIZE


def write_svg(curves: dict, held_out: dict, path: Path) -> None:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
             'font-size="11">', f'<rect width="{W}" height="{H}" fill="white"/>']
    # the target region: false refusals <= 0.15, refused unanswerable >= 0.80
    x0, y0 = _xy(0, 1)
    x1, y1 = _xy(0.15, 0.80)
    parts.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
                 'fill="#e8f5e9" stroke="#9c9"/>')
    parts.append(f'<text x="{x0 + 4}" y="{y0 + 14}" fill="#393">target</text>')
    for tick in range(0, 11, 2):
        v = tick / 10
        x, y = _xy(v, v)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + SIZE}" stroke="#eee"/>')
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + SIZE}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP + SIZE + 15}" text-anchor="middle">{v:.1f}</text>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{SIZE}" height="{SIZE}" fill="none" stroke="#333"/>')
    parts.append(f'<text x="{LEFT + SIZE / 2}" y="{TOP + SIZE + 32}" text-anchor="middle">false refusals '
                 '(answerable questions refused)</text>')
    parts.append(f'<text transform="translate(18 {TOP + SIZE / 2}) rotate(-90)" text-anchor="middle">'
                 'unanswerable questions refused</text>')
    for name, colour in COLOURS.items():
        points = " ".join("{:.1f},{:.1f}".format(*_xy(p["false_refusal"], p["refused_unanswerable"]))
                          for p in curves[name])
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
    today = curves["today"]
    x, y = _xy(today["false_refusal"], today["refused_unanswerable"])
    parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#d62728"/>')
    x, y = _xy(held_out["false_refusal"], held_out["refused_unanswerable"])
    parts.append(f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="#2ca02c" stroke="black"/>')
    legend = [(f'<line x1="0" y1="0" x2="18" y2="0" stroke="{COLOURS[n]}" stroke-width="2"/>', LABELS[n])
              for n in COLOURS]
    legend += [('<circle cx="9" cy="0" r="5" fill="#d62728"/>', "today's rules (shipped before)"),
               ('<rect x="4" y="-5" width="10" height="10" fill="#2ca02c" stroke="black"/>',
                "evidence model, held-out documents")]
    for i, (mark, label) in enumerate(legend):
        ly = TOP + SIZE - 70 + i * 14
        parts.append(f'<g transform="translate({LEFT + SIZE - 250} {ly})">{mark}'
                     f'<text x="24" y="4">{label}</text></g>')
    parts.append(f'<text x="{LEFT}" y="{TOP - 10}" font-size="13">Refusal trade-off, MMLongBench-Doc dev '
                 '(250 answerable, 76 unanswerable)</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
