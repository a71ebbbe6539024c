"""The session key of the connector's writes (connector_session.py); the stuck session itself is in the
integration test beside this one."""

from ratings_assets.streaming.connector_session import CONNECTOR_KEEP_ALIVE_MS, KEEP_ALIVE, with_new_session


def test_a_new_session_differs_only_in_its_keep_alive():
    options = {"keyspace": "ratings", "spark.cassandra.connection.host": "10.0.0.1,10.0.0.2"}
    moved = with_new_session(options)
    assert moved == {**options, KEEP_ALIVE: str(CONNECTOR_KEEP_ALIVE_MS + 1)}
    assert options == {"keyspace": "ratings", "spark.cassandra.connection.host": "10.0.0.1,10.0.0.2"}


def test_each_move_reaches_another_session():
    first = with_new_session({KEEP_ALIVE: "5000"})
    second = with_new_session(first)
    assert [first[KEEP_ALIVE], second[KEEP_ALIVE]] == ["5001", "5002"]
