"""The Kafka topic the generator publishes to, and its dead-letter sibling."""

import dagster as dg

from ratings_assets.defs.automation import once_when_missing
from ratings_assets.resources.kafka import KafkaResource


@dg.asset(
    key="ratings_topic",
    automation_condition=once_when_missing(),
    group_name="ratings",
    kinds={"kafka"},
    owners=["team:data-platform"],
    description="Kafka topic of rating events (JSON, keyed by user), its dead-letter topic and the latter's marks.",
)
def ratings_topic(kafka: KafkaResource) -> dg.MaterializeResult:
    """Creates the topics if missing (idempotent) and records how they are laid out."""
    topic, dlq, marks = kafka.ensure_rating_topics()
    end_offsets = kafka.end_offsets()
    return dg.MaterializeResult(
        metadata={
            "topic": topic["topic"],
            "partitions": topic["partitions"],
            "replication_factor": topic["replication_factor"],
            "dead_letter_topic": dlq["topic"],
            "dead_letter_marks_topic": marks["topic"],
            "messages": sum(end_offsets.values()),
            "end_offsets": dg.MetadataValue.json({str(p): o for p, o in end_offsets.items()}),
            "bootstrap_servers": kafka.bootstrap_servers,
        }
    )
