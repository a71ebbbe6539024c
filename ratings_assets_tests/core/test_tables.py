import binascii

import pytest

from ratings_assets.core.tables import HOUR_BUCKETS, create_keyspace, create_tables, hour_bucket


def test_keyspace_cql_carries_the_replication_map():
    cql = create_keyspace("reviews", "{'class': 'NetworkTopologyStrategy', 'dc1': 3}")
    assert cql == "CREATE KEYSPACE IF NOT EXISTS reviews WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}"


@pytest.mark.parametrize("keyspace", ["reviews; DROP TABLE x", "1abc", "", "a-b"])
def test_unsafe_identifiers_are_refused(keyspace):
    with pytest.raises(ValueError, match="identifier"):
        create_keyspace(keyspace, "{'class': 'SimpleStrategy', 'replication_factor': 1}")


def test_unsafe_replication_is_refused():
    with pytest.raises(ValueError, match="replication"):
        create_keyspace("reviews", "{'class': 'SimpleStrategy'}; DROP KEYSPACE reviews")


def test_records_partition_by_user_and_hour():
    records = create_tables("reviews")[0]
    assert "PRIMARY KEY ((name, hour), time, event_id)" in records


def test_bucket_is_crc32_mod_buckets():
    for name in ["Ada", "Zoë", "東京"]:
        assert hour_bucket(name) == binascii.crc32(name.encode("utf-8")) % HOUR_BUCKETS
