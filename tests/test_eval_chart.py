"""The metrics@k chart: valid SVG whose points carry, and are placed by, the values they show."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ragkit.eval.chart import metrics_at_k_svg

SVG = "{http://www.w3.org/2000/svg}"


def _points(svg: str) -> list[tuple[str, int, float, float, float]]:
    root = ET.fromstring(svg)
    return [(c.get("data-metric"), int(c.get("data-k")), float(c.get("data-value")), float(c.get("cx")),
             float(c.get("cy"))) for c in root.iter(f"{SVG}circle")]


def test_each_value_is_a_point_placed_by_its_value_and_k():
    ks = [1, 3, 5, 10]
    series = {"hit@k": [0.5, 0.8, 0.9, 1.0], "recall@k": [0.25, 0.6, None, 0.95]}
    points = _points(metrics_at_k_svg(ks, series, title="run A"))
    assert [(m, k, v) for m, k, v, _, _ in points] == [
        ("hit@k", 1, 0.5), ("hit@k", 3, 0.8), ("hit@k", 5, 0.9), ("hit@k", 10, 1.0),
        ("recall@k", 1, 0.25), ("recall@k", 3, 0.6), ("recall@k", 10, 0.95)]  # the missing value is skipped
    by_value = sorted(points, key=lambda p: p[2])
    assert [p[4] for p in by_value] == sorted((p[4] for p in points), reverse=True)  # higher value, higher up
    hit = [p for p in points if p[0] == "hit@k"]
    assert [p[3] for p in hit] == sorted(p[3] for p in hit)  # k runs left to right
    assert {round(p[3], 1) for p in points if p[1] == 3} == {hit[1][3]}  # same k, same column


def test_names_are_escaped_and_a_single_k_still_draws():
    svg = metrics_at_k_svg([5], {"a<b>&c": [0.7]})
    points = _points(svg)
    assert points[0][:3] == ("a<b>&c", 5, 0.7)
