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
    assert {s.name for s in definitions.sensors} >= {"ratings_stream_supervisor", "hourly_aggregates_sensor"}


def test_dg_check_defs_passes():
    dg_cli = Path(sys.executable).with_name("dg")
    result = subprocess.run([str(dg_cli), "check", "defs"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr
