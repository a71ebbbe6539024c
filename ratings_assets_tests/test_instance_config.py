"""The Dagster instance settings that keep one streaming query per checkpoint, on an instance built from them."""

from pathlib import Path

import dagster as dg
import pytest
import yaml

from ratings_assets.defs.stream_job import STREAM_TAG, ratings_stream_job
from ratings_assets.paths import REPO_ROOT


@pytest.mark.parametrize("config_file", [REPO_ROOT / "dagster.yaml", REPO_ROOT / "docker" / "dagster.yaml"])
def test_the_run_queue_admits_one_stream_run_and_the_stream_is_never_retried(config_file: Path, tmp_path):
    config = yaml.safe_load(config_file.read_text())
    # Storage aside (Postgres in docker/), the instance the file describes.
    overrides = {key: config[key] for key in ("run_coordinator", "run_retries", "run_monitoring") if key in config}
    with dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as instance:
        limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
        (key, value), = STREAM_TAG.items()
        assert {"key": key, "limit": 1} in [{k: v for k, v in limit.items() if k in ("key", "limit")} for limit in limits]
        # Run retries are on for other jobs; the stream opts out, so its sensor alone restarts it.
        assert instance.run_retries_enabled
    assert ratings_stream_job.tags[key] == value
    assert ratings_stream_job.tags["dagster/max_retries"] == "0"
