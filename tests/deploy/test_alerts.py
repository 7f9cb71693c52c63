"""The Prometheus alerting rules (deploy/prometheus): valid and behaving as their unit tests say
(promtool), naming only metrics the code declares, each pointing to its runbook section."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import nocturnal.api.app
import nocturnal.auth.app
import nocturnal.ratelimit.app
import nocturnal.upload.app  # noqa: F401 - every service's metrics are registered on import
from deploy.kustomize import ROOT

RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yaml"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
PROMQL_WORDS |= {"and", "or", "unless", "offset", "inf", "nan"}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: tools/bootstrap.sh installs it (Debian: prometheus)"
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=120)


def rules() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers that are not functions, keywords,
    label names (in `by (...)` or `{...}`), durations or strings."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"\b[A-Za-z_:][A-Za-z0-9_:]*\b(?!\s*\()", expr))
    functions = set(re.findall(r"([A-Za-z_]+)\s*\(", expr))
    return {n for n in names - functions - PROMQL_WORDS if not re.fullmatch(r"\d.*", n)}


def declared_metrics() -> set[str]:
    """Every sample name the process's registry can expose."""
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def test_the_rules_are_valid() -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_its_failure_and_not_otherwise() -> None:
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert {rule["alert"] for rule in rules()} == tested


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule["alert"]))
def test_every_metric_an_alert_names_is_declared_in_the_code(rule: dict[str, object]) -> None:
    named = metric_names(str(rule["expr"]))
    assert named, rule["expr"]
    assert named <= declared_metrics(), named - declared_metrics()


def test_the_metric_name_reader_finds_metrics_and_only_them() -> None:
    expr = 'sum by (service) (rate(a_total{status=~"5.."}[5m])) / max without (x) (b) > 0.05'
    assert metric_names(expr) == {"a_total", "b"}


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_points_to_a_runbook_section_that_exists(rule: dict[str, object]) -> None:
    annotations = rule["annotations"]
    assert isinstance(annotations, dict)
    document, _, anchor = str(annotations["runbook"]).partition("#")
    text = (ROOT / document).read_text()
    if anchor:
        headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
        assert anchor in {_anchor(heading) for heading in headings}, anchor


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
