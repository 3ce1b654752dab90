"""OpenAI attribute filters: what retrieval can push down (files, page range), what is checked
per hit afterwards, and how a malformed filter is reported."""

from __future__ import annotations

import json

import pytest

from ragkit.errors import InvalidParameter
from ragkit.library import filters
from ragkit.server.errors import from_ragkit


def _files():
    rows = [("a.pdf", {"dept": "eng", "year": 2024}), ("b.docx", {"dept": "sales", "year": 2022}),
            ("c.txt", None)]
    return [{"path": f"/x/{i}/{name}", "filename": name, "file_id": f"file-{i}",
             "attributes": json.dumps(attrs) if attrs else None} for i, (name, attrs) in enumerate(rows)]


def test_file_level_filters_become_allowed_paths():
    plan = filters.Plan.build(filters.parse({"type": "eq", "key": "dept", "value": "eng"}), _files())
    assert plan.paths == ("/x/0/a.pdf",) and not plan.post_filter
    plan = filters.Plan.build(filters.parse({"type": "or", "filters": [
        {"type": "lt", "key": "year", "value": 2023}, {"type": "eq", "key": "type", "value": "txt"}]}), _files())
    assert plan.paths == ("/x/1/b.docx", "/x/2/c.txt")
    plan = filters.Plan.build(filters.parse({"type": "ne", "key": "dept", "value": "eng"}), _files())
    assert plan.paths == ("/x/1/b.docx", "/x/2/c.txt")  # a missing attribute is "not equal"
    plan = filters.Plan.build(filters.parse({"type": "nin", "key": "filename", "value": ["a.pdf", "c.txt"]}), _files())
    assert plan.paths == ("/x/1/b.docx",)
    assert filters.Plan.build(filters.parse({"type": "eq", "key": "dept", "value": "hr"}), _files()).empty


def test_page_ranges_are_pushed_down_and_the_rest_post_filtered():
    node = filters.parse({"type": "and", "filters": [{"type": "gt", "key": "page", "value": 1},
                                                     {"type": "lte", "key": "page", "value": 3},
                                                     {"type": "eq", "key": "dept", "value": "eng"}]})
    plan = filters.Plan.build(node, _files())
    assert (plan.page_min, plan.page_max, plan.post_filter) == (2, 3, False)
    assert plan.paths == ("/x/0/a.pdf",)
    assert plan.keep("/x/0/a.pdf", 2) and not plan.keep("/x/0/a.pdf", 4) and not plan.keep("/x/0/a.pdf", None)

    either = filters.Plan.build(filters.parse({"type": "or", "filters": [
        {"type": "eq", "key": "page", "value": 1}, {"type": "eq", "key": "dept", "value": "sales"}]}), _files())
    assert either.post_filter and either.page_min is None
    assert set(either.paths) == {"/x/0/a.pdf", "/x/1/b.docx", "/x/2/c.txt"}  # page could match anywhere
    assert either.keep("/x/0/a.pdf", 1) and not either.keep("/x/0/a.pdf", 2) and either.keep("/x/1/b.docx", 9)
    assert filters.Plan.build(filters.parse({"type": "in", "key": "page", "value": [2, 4]}), _files()).post_filter


@pytest.mark.parametrize("raw", [
    "dept=eng", {"key": "dept", "value": "eng"}, {"type": "eq", "key": "", "value": 1},
    {"type": "lt", "key": "year", "value": True}, {"type": "in", "key": "k", "value": "x"},
    {"type": "eq", "key": "k", "value": [1]}, {"type": "or", "filters": [{"type": "eq"}]},
    {"type": "eq", "key": "k", "value": 1, "extra": 2},
])
def test_malformed_filters_raise_an_error_naming_the_parameter(raw):
    with pytest.raises(InvalidParameter) as caught:
        filters.parse(raw)
    assert caught.value.param == "filters"


def test_a_malformed_filter_is_the_servers_400_naming_the_parameter():
    with pytest.raises(InvalidParameter) as caught:
        filters.parse({"type": "in", "key": "k", "value": "x"}, "tools.filters")
    assert from_ragkit(caught.value).body() == {"error": {
        "message": "filter on 'k': 'in' needs a list value", "type": "invalid_request_error",
        "param": "tools.filters", "code": None}}
    assert from_ragkit(caught.value).status == 400


def test_comparisons_do_not_mix_types():
    node = filters.parse({"type": "gt", "key": "year", "value": 2023})
    assert filters.evaluate(node, {"year": 2024}) is True
    assert filters.evaluate(node, {"year": "2024"}) is False
    assert filters.evaluate(filters.parse({"type": "eq", "key": "public", "value": True}), {"public": 1}) is False
