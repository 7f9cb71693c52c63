"""The one table of problem types: every answerer, the gateway's template and the docs agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nocturnal.shared.problems import (
    INVALID_VALUES,
    PROBLEM_TYPES,
    Problem,
    ProblemType,
    problem_table_markdown,
    validation_problem,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "gateway" / "nginx.conf.template").read_text()
DOCS = (ROOT / "docs" / "problems.md").read_text()
ROWS = list(PROBLEM_TYPES.values())


def nginx_map(variable: str) -> dict[str, str]:
    """The entries of the template's `map $status $<variable> {...}` by status (or default)."""
    block = re.search(rf"map \$status \${variable} \{{\n(.*?)\n    \}}", TEMPLATE, re.DOTALL)
    assert block, f"the template has no map of $status to ${variable}"
    entries = re.findall(r'^\s+(\d+|default)\s+"([^"]*)";$', block.group(1), re.MULTILINE)
    return dict(entries)


def gateway_statuses() -> set[int]:
    """The statuses the gateway answers with a problem: its error_page codes, or their `=code`."""
    answered = set()
    for codes in re.findall(r"error_page ([\d =]+) /_gateway/problem;", TEMPLATE):
        parts = codes.split()
        if parts[-1].startswith("="):
            answered.add(int(parts[-1][1:]))
        else:
            answered.update(int(code) for code in parts)
    return answered


def test_each_status_has_one_type_named_after_its_title() -> None:
    for row in ROWS:
        assert row.slug == row.title.lower().replace(" ", "-"), row
        assert row.uri == f"https://nocturnal.dev/problems/{row.slug}"
    assert len({row.uri for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: str(row.status))
def test_a_problem_takes_type_title_and_standard_detail_from_its_status(row: ProblemType) -> None:
    body = Problem(row.status).body(instance="/x", request_id="r")

    assert (body["type"], body["title"], body["detail"]) == (row.uri, row.title, row.detail)
    assert Problem(row.status, "more specific").detail == "more specific"


def test_validation_failures_share_one_wording_with_errors() -> None:
    problem = validation_problem([{"field": "limit", "message": "must be an integer"}])

    assert (problem.status, problem.detail) == (400, INVALID_VALUES)
    assert problem.errors == [{"field": "limit", "message": "must be an integer"}]


def test_a_status_outside_the_table_is_about_blank_with_its_reason_phrase() -> None:
    problem = Problem(418)

    assert (problem.type, problem.title) == ("about:blank", "I'm a Teapot")


def test_a_row_that_nginx_could_not_write_into_json_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON-safe"):
        ProblemType(499, "x", 'a "quoted" title', "detail", "never")


def test_the_gateway_answers_exactly_the_rows_marked_gateway() -> None:
    assert gateway_statuses() == {row.status for row in ROWS if row.gateway}


@pytest.mark.parametrize(
    ("variable", "column"),
    [("problem_type", "uri"), ("problem_title", "title"), ("problem_detail", "detail")],
)
def test_the_gateway_template_writes_each_row_as_the_table_has_it(
    variable: str, column: str
) -> None:
    entries = nginx_map(variable)

    for status in gateway_statuses():
        written = entries.get(str(status), entries["default"])
        assert written == getattr(PROBLEM_TYPES[status], column), status
    assert entries["default"] == getattr(PROBLEM_TYPES[500], column)
    assert set(entries) == {"default"} | {str(status) for status in gateway_statuses() - {500}}


def test_the_gateway_405_allows_the_methods_it_passes_on() -> None:
    allowed = nginx_map("problem_allow")["405"].split(", ")
    passed_on = re.search(r'"~\^\(([A-Z|]+)\)\$"\s+0;', TEMPLATE)

    assert passed_on
    assert allowed == passed_on.group(1).split("|")


def test_the_docs_table_is_the_generated_one() -> None:
    assert problem_table_markdown() in DOCS, (
        "docs/problems.md differs from nocturnal.shared.problems.PROBLEM_TYPES; regenerate its"
        " table with nocturnal.shared.problems.problem_table_markdown()"
    )
