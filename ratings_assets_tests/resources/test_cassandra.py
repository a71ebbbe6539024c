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
