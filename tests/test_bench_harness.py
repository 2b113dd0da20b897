"""``bench.harness``'s shared pieces: every benchmark's --quick and --json, where results go,
and the errors a missing data folder or model gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import REPO, RESULTS, arguments, missing_data, no_model, write_json


def test_a_benchmark_parser_has_quick_and_a_json_path_under_results():
    parser = arguments("A benchmark.\n\nMore.", "fewer runs", "example")
    args = parser.parse_args(["--quick", "--json", "out.json"])
    assert args.quick and str(args.json) == "out.json"
    assert parser.parse_args([]).json is None  # the benchmark picks its full-run default
    assert str((RESULTS / "example.json").relative_to(REPO)) in parser.format_help()
    assert not hasattr(arguments("A benchmark.", "fewer runs").parse_args([]), "json")


def test_results_are_written_as_indented_utf8_json_and_none_writes_nothing(tmp_path, capsys):
    target = tmp_path / "deeper" / "result.json"
    write_json(target, {"title": "Amélie", "figures": [1.5]})
    text = target.read_text(encoding="utf-8")
    assert text.endswith("\n") and "Amélie" in text and '\n  "figures"' in text
    assert json.loads(text) == {"title": "Amélie", "figures": [1.5]}
    assert str(target) in capsys.readouterr().out
    write_json(None, {"ignored": True})
    assert capsys.readouterr().out == ""


def test_a_missing_release_or_model_is_named(tmp_path, capsys):
    (tmp_path / "ml-100k").mkdir()
    assert not missing_data(tmp_path, "ml-100k")
    assert missing_data(tmp_path, "ml-100k", "ml-1m")
    assert "ml-1m: no such data folder" in capsys.readouterr().err
    assert no_model(tmp_path)
    assert f"no model in {tmp_path}" in capsys.readouterr().out
    (tmp_path / "manifest.json").write_text("{}")
    assert not no_model(tmp_path)


@pytest.mark.parametrize("bench", ["sqlite_sync", "serving_87k", "rating_accuracy", "matching"])
def test_benchmarks_accept_quick(bench):
    """bench/run_all.py --quick passes --quick to every benchmark."""
    shown = subprocess.run([sys.executable, f"bench/{bench}.py", "--help"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout
    assert "--quick" in shown


def test_run_all_skips_the_benchmarks_it_cannot_feed_unless_named(monkeypatch, capsys):
    """`make bench` runs every script it can give inputs to and names the ones it skips."""
    from bench import run_all

    ran: list[str] = []

    def fake_run(command, **_):
        ran.append(Path(command[1]).stem)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(run_all.subprocess, "run", fake_run)
    assert run_all.main(["--quick"]) == 0
    shown = capsys.readouterr().out
    assert set(run_all.BY_HAND).isdisjoint(ran) and "matching" in ran
    assert all(f"skipped {name}" in shown for name in run_all.BY_HAND)
    assert run_all.main(["serving_87k"]) == 0 and ran[-1] == "serving_87k"
