"""The Kafka topic the generator publishes to, and its dead-letter sibling."""

import dagster as dg

from ratings_assets.resources import ensure_rating_topics
from ratings_assets.resources.kafka import KafkaResource


@dg.asset(
    key="ratings_topic",
    group_name="ratings",
    kinds={"kafka"},
    owners=["team:data-platform"],
    description="Kafka topic of rating events (JSON, keyed by user), its dead-letter topic and the latter's marks.",
)
def ratings_topic(kafka: KafkaResource) -> dg.MaterializeResult:
    """Creates the topics if missing (idempotent) and records how they are laid out."""
    topic, dlq, marks = ensure_rating_topics(kafka)
    end_offsets = kafka.end_offsets(topic["topic"])
    return dg.MaterializeResult(
        metadata={
            "topic": topic["topic"],
            "partitions": topic["partitions"],
            "replication_factor": topic["replication_factor"],
            "dead_letter_topic": dlq["topic"],
            "dead_letter_marks_topic": marks["topic"],
            "messages": sum(end_offsets.values()),
            "bootstrap_servers": kafka.bootstrap_servers,
        }
    )
