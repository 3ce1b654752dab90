"""The metrics@k chart: valid SVG whose points carry, and are placed by, the values they show."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ragkit.eval.chart import metrics_at_k_svg, tradeoff_svg

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


def _tradeoff(svg: str):
    root = ET.fromstring(svg)
    points = [(c.get("data-series"), float(c.get("data-threshold")), float(c.get("data-x")), float(c.get("data-y")),
               float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{SVG}circle")]
    marks = {r.get("data-mark"): (float(r.get("x")), float(r.get("y"))) for r in root.iter(f"{SVG}rect")
             if r.get("data-mark")}
    target = [r for r in root.iter(f"{SVG}rect") if r.get("data-target")]
    return points, marks, target


def test_tradeoff_points_sit_where_their_rates_say():
    curve = [(0.5, 0.9, 0.6), (0.1, 0.3, 0.2), (0.3, 0.7, 0.4)]  # (false refusals, refused, threshold)
    points, marks, target = _tradeoff(tradeoff_svg({"rule <a>": curve}, {"shipped": (0.3, 0.7)},
                                                   target=(0.15, 0.8), title="t"))
    assert [(s, t, x, y) for s, t, x, y, _, _ in points] == [
        ("rule <a>", 0.2, 0.1, 0.3), ("rule <a>", 0.4, 0.3, 0.7), ("rule <a>", 0.6, 0.5, 0.9)]  # by threshold
    assert [p[4] for p in points] == sorted(p[4] for p in points)  # more false refusals, further right
    assert [p[5] for p in points] == sorted((p[5] for p in points), reverse=True)  # more refused, higher up
    middle = points[1]
    assert marks["shipped"] == (round(middle[4] - 4, 1), round(middle[5] - 4, 1))  # same rates, same place
    assert len(target) == 1
    box = {key: float(target[0].get(key)) for key in ("x", "y", "width", "height")}
    per_x = (points[2][4] - points[0][4]) / 0.4  # pixels per unit of false refusals
    per_y = (points[0][5] - points[2][5]) / 0.6  # pixels per unit of refused
    assert abs(box["x"] - (points[0][4] - 0.1 * per_x)) < 0.2 and abs(box["width"] - 0.15 * per_x) < 0.2
    assert abs(box["y"] + box["height"] - (middle[5] - 0.1 * per_y)) < 0.2  # its lower edge: 0.8 refused


def test_tradeoff_without_marks_or_target_still_draws():
    points, marks, target = _tradeoff(tradeoff_svg({"only": [(0.0, 1.0, 0.5)]}))
    assert [(p[2], p[3]) for p in points] == [(0.0, 1.0)] and not marks and not target
