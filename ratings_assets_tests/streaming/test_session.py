import os

import pytest

from ratings_assets.streaming.session import local_cores, spark_conf


@pytest.mark.parametrize("master, cores", [("local", 1), ("local[2]", 2), ("local[4, 3]", 4),
                                           ("local[*]", os.cpu_count()), ("spark://h:7077", None),
                                           ("yarn", None), ("k8s://https://api:6443", None), ("local[x]", None)])
def test_local_cores(master, cores):
    assert local_cores(master) == cores


def test_shuffle_partitions_follow_local_cores_and_are_left_to_spark_on_a_cluster():
    local = spark_conf("local[2]", "1g", "127.0.0.1", 9042)
    cluster = spark_conf("spark://h:7077", "1g", "c1,c2", 9042)
    assert local["spark.sql.shuffle.partitions"] == "2"
    assert "spark.sql.shuffle.partitions" not in cluster
