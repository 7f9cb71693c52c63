"""The bench's options: quick mode, scenario choice, the seed stack folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.bench.settings import SCENARIOS, seed_stack_note, settings_from_cli


def test_defaults_run_every_scenario_in_full() -> None:
    settings = settings_from_cli([], {})

    assert settings.scenarios == SCENARIOS
    assert not settings.quick
    assert settings.seed_stack_dir is None


def test_quick_mode_and_a_subset_from_the_environment() -> None:
    settings = settings_from_cli([], {"BENCH_QUICK": "1", "BENCH_ONLY": "p1, P3"})

    assert settings.quick
    assert settings.scenarios == ("P1", "P3")
    assert settings.duration_s < settings_from_cli([], {}).duration_s


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario P4"):
        settings_from_cli(["--only", "P4"], {})


def test_a_seed_stack_folder_without_app_js_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no app\.js"):
        settings_from_cli([], {"SEED_STACK_DIR": str(tmp_path)})


def test_missing_node_or_folder_is_said(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("")
    settings = settings_from_cli(["--seed-stack", str(tmp_path)], {})

    assert seed_stack_note(settings, None) is not None
    assert seed_stack_note(settings, "/usr/bin/node") is None
    assert "SEED_STACK_DIR" in (seed_stack_note(settings_from_cli([], {}), "/usr/bin/node") or "")
