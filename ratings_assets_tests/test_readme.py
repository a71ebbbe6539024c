"""The README stays true: every setting documented, every command it shows exists."""

import re

from ratings_assets import settings
from ratings_assets.cli import build_parser
from ratings_assets.paths import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_every_setting_is_documented():
    launcher = set(re.findall(r'"(RATINGS_[A-Z_]+)"', (REPO_ROOT / "ratings_assets/localstack/config.py").read_text()))
    missing = sorted(({s.env for s in settings.ALL} | launcher) - set(re.findall(r"RATINGS_[A-Z_]+", README)))
    assert not missing, f"README lacks {missing}"


def test_every_documented_variable_exists():
    known = {s.env for s in settings.ALL} | set(
        re.findall(r'"(RATINGS_[A-Z_]+)"', (REPO_ROOT / "ratings_assets/localstack/config.py").read_text())
    ) | {"RATINGS_UI_PORT"}
    assert set(re.findall(r"RATINGS_[A-Z_]+", README)) <= known


def test_every_ratings_subcommand_shown_exists():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    shown = set(re.findall(r"(?:\.venv/bin/ratings|`ratings) ([a-z]+)", README))
    assert shown and shown <= commands, shown - commands


def test_make_targets_shown_exist():
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in set(re.findall(r"`make ([\w-]+)", README)):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_every_ratings_subcommand_shown_answers_help():
    import subprocess
    import sys
    from pathlib import Path

    ratings = Path(sys.executable).with_name("ratings")
    for command in sorted(set(re.findall(r"(?:\.venv/bin/ratings|`ratings) ([a-z]+)", README))):
        result = subprocess.run([str(ratings), command, "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "usage" in result.stdout.lower(), (command, result.stderr[-500:])
