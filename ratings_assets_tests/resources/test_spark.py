import os

import pytest

from ratings_assets.resources.spark import SparkResource, local_cores


@pytest.mark.parametrize("master, cores", [("local", 1), ("local[2]", 2), ("local[4, 3]", 4),
                                           ("local[*]", os.cpu_count()), ("spark://h:7077", None),
                                           ("yarn", None), ("k8s://https://api:6443", None), ("local[x]", None)])
def test_local_cores(master, cores):
    assert local_cores(master) == cores


def test_shuffle_partitions_follow_local_cores_and_are_left_to_spark_on_a_cluster(tmp_path):
    local = SparkResource(master="local[2]", jars_dir=str(tmp_path)).conf()
    cluster = SparkResource(master="spark://h:7077", jars_dir=str(tmp_path)).conf()
    assert local["spark.sql.shuffle.partitions"] == "2"
    assert "spark.sql.shuffle.partitions" not in cluster


def test_the_jars_are_those_in_the_folder_and_no_cassandra_address_is_in_the_session(tmp_path):
    for name in ("b.jar", "a.jar", "notes.txt"):
        (tmp_path / name).write_text("")
    conf = SparkResource(jars_dir=str(tmp_path), driver_host="10.0.0.5").conf()
    assert conf["spark.jars"] == f"{tmp_path / 'a.jar'},{tmp_path / 'b.jar'}"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "10.0.0.5"
    # Where the query writes comes from the Cassandra resource, per write: one session serves any cluster.
    assert not [key for key in conf if key.startswith("spark.cassandra.connection")]


def test_the_driver_maps_the_class_archive_only_when_there_is_one(tmp_path):
    archive = tmp_path / "spark-classes.jsa"
    resource = SparkResource(jars_dir=str(tmp_path), class_archive=str(archive))
    assert "spark.driver.extraJavaOptions" not in resource.conf()
    assert "spark.driver.extraJavaOptions" not in SparkResource(jars_dir=str(tmp_path)).conf()
    archive.write_bytes(b"recorded by make setup")
    options = resource.conf()["spark.driver.extraJavaOptions"].split()
    assert f"-XX:SharedArchiveFile={archive}" in options
    assert "-Xlog:cds=off" in options  # a stale archive is skipped without a warning on the CLI's output
