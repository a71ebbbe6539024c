import subprocess
import sys
from pathlib import Path

import dagster as dg

from ratings_assets.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_definitions_load_with_the_whole_asset_graph():
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    keys = {key.to_user_string() for key in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"movie_catalog", "ratings_topic", "reviews/records", "reviews/hourly_user_ratings"}
    assert {s.name for s in definitions.sensors} == {"ratings_stream_supervisor", "ratings_automation"}
    assert not list(definitions.schedules or [])  # checks and aggregates run by automation, not schedules


def test_importing_the_definitions_changes_neither_the_environment_nor_logging():
    code = (
        "import logging, os, sys\n"
        "env, root = dict(os.environ), logging.getLogger()\n"
        "state = (root.level, list(root.handlers), {n: l.level for n, l in logging.root.manager.loggerDict.items()"
        " if isinstance(l, logging.Logger)})\n"
        "from ratings_assets.definitions import defs\n"
        "defs()\n"
        "after = (root.level, list(root.handlers), {n: l.level for n, l in logging.root.manager.loggerDict.items()"
        " if isinstance(l, logging.Logger) and n in state[2]})\n"
        "changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))\n"
        "print(changed, state == after)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[] True"


def test_dg_check_defs_passes():
    dg_cli = Path(sys.executable).with_name("dg")
    result = subprocess.run([str(dg_cli), "check", "defs"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr
