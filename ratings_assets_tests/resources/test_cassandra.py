"""The Cassandra resource's configuration, without a cluster."""

import pytest
from cassandra import ConsistencyLevel

from ratings_assets.resources.cassandra import CassandraResource


def test_consistency_names_are_read_case_insensitively():
    assert CassandraResource(hosts="h").consistency_level() == ConsistencyLevel.LOCAL_QUORUM
    assert CassandraResource(hosts="h", consistency=" local_one ").consistency_level() == ConsistencyLevel.LOCAL_ONE


def test_an_unknown_consistency_says_which_ones_exist():
    with pytest.raises(ValueError, match="unknown Cassandra consistency level 'QUORUMM'.*LOCAL_QUORUM"):
        CassandraResource(hosts="h", consistency="QUORUMM").consistency_level()


def test_spark_options_name_the_same_cluster_consistency_and_login():
    plain = CassandraResource(hosts="c1,c2", port=9142, consistency="QUORUM").spark_options()
    assert plain.items() >= {"spark.cassandra.connection.host": "c1,c2", "spark.cassandra.connection.port": "9142",
                             "spark.cassandra.output.consistency.level": "QUORUM",
                             "spark.cassandra.input.consistency.level": "QUORUM"}.items()
    assert not [key for key in plain if "auth" in key]
    login = CassandraResource(hosts="c", username="u", password="p").spark_options()
    assert (login["spark.cassandra.auth.username"], login["spark.cassandra.auth.password"]) == ("u", "p")
