"""`python -m bench`: the options of the bench subcommand `ratings` used to have, and the commands the docs show exist."""

import re
import subprocess
import sys

import pytest

import bench.runner
from bench.cli import build_parser, main
from ratings_assets.paths import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs" / "benchmarks").glob("*.md"))]


def test_runs_as_a_module_from_the_repository_root():
    result = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.startswith("usage: python -m bench")
    for option in ("--smoke", "--validator", "--ab", "--events", "--runs", "--conf", "--no-probe", "--output"):
        assert option in result.stdout


def test_every_option_the_docs_show_exists():
    known = set(build_parser()._option_string_actions)
    shown = set()
    for doc in DOCS:
        for command in re.findall(r"python -m bench([^`\n#]*)", doc.read_text()):
            shown |= set(re.findall(r"--[a-z][a-z-]*", command))
    assert shown and shown <= known, shown - known


def test_the_run_records_the_command_it_was_given(monkeypatch):
    seen = []
    monkeypatch.setattr(bench.runner, "run", lambda options: seen.append(options) or 0)
    assert main(["--smoke", "--events", "5k", "--conf", "a.b=1"]) == 0
    (options,) = seen
    assert (options.mode, options.events, options.conf) == ("smoke", 5_000, {"a.b": "1"})
    assert options.command == "python -m bench --smoke --events 5k --conf a.b=1"


@pytest.mark.parametrize("argv", [["--events", "lots"], ["--conf", "no-equals-sign"], ["--ab", "bad"]])
def test_bad_values_are_an_error_message_and_exit_code_1(argv, capsys, monkeypatch):
    monkeypatch.setattr(bench.runner, "run", lambda options: pytest.fail("ran"))
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith("error: ")
