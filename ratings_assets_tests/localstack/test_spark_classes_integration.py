"""The Spark driver's class archive that `make setup` recorded: a JVM maps it, and a damaged one is skipped.

Each case starts Spark in a process of its own: a JVM's options are fixed when it starts, and this test
process may hold a SparkContext already.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ratings_assets import settings
from ratings_assets.resources.spark import SparkResource
from ratings_assets_tests.conftest import required_in_ci

pytestmark = pytest.mark.integration

# A session from the project's resource, with `java_options` as given, that runs one SQL job.
START_SPARK = """
import sys
from ratings_assets.resources import spark_resource
from ratings_assets.resources.spark import SparkResource

class Spark(SparkResource):
    def java_options(self) -> str:
        return sys.argv[2]

resource = Spark(**{**spark_resource().model_dump(), "class_archive": sys.argv[1]})
print(resource.spark_session.range(0, 10, numPartitions=2).groupBy().sum().collect()[0][0])
resource.stop()
"""


def start_spark(archive: Path | str, java_options: str, python: tuple[str, ...] = (sys.executable,)
                ) -> subprocess.CompletedProcess:
    """START_SPARK run by `python` (this interpreter, or one in a container that gets PYSPARK_SUBMIT_ARGS)."""
    return subprocess.run([*python, "-c", START_SPARK, str(archive), java_options], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYSPARK_SUBMIT_ARGS": "--conf spark.ui.enabled=false pyspark-shell"})


def assert_spark_maps(archive: Path | str, python: tuple[str, ...] = (sys.executable,)) -> None:
    # -Xshare:on: the JVM refuses to start unless it maps the archive (same JDK, same classpath).
    run = start_spark(archive, f"-Xshare:on -XX:SharedArchiveFile={archive}", python)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split()[-1] == str(sum(range(10)))


@pytest.fixture(scope="module")
def archive() -> Path:
    path = Path(settings.spark_class_archive())
    if not path.is_file():
        required_in_ci(f"no class archive at {path}: `make setup` records it")
    return path


def test_the_recorded_archive_matches_the_spark_the_project_starts(archive):
    assert_spark_maps(archive)


def test_a_damaged_archive_is_skipped(tmp_path):
    damaged = tmp_path / "spark-classes.jsa"
    damaged.write_bytes(b"\0" * 4096)
    run = start_spark(damaged, SparkResource(jars_dir=str(tmp_path), class_archive=str(damaged)).java_options())
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == [str(sum(range(10)))]


def test_an_archive_for_another_classpath_is_skipped_without_a_word(archive, tmp_path):
    # A JVM without Spark's classpath cannot use Spark's archive, as one after an upgrade of pyspark could not.
    bare = subprocess.run(["java", f"-XX:SharedArchiveFile={archive}", "-version"], capture_output=True, text=True,
                          timeout=60)
    assert "Unable to use shared archive" in bare.stdout + bare.stderr
    options = SparkResource(jars_dir=str(tmp_path), class_archive=str(archive)).java_options()
    quiet = subprocess.run(["java", *options.split(), "-version"], capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0
    assert "archive" not in quiet.stdout + quiet.stderr
