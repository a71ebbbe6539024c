"""The sensor that evaluates every asset's and check's automation condition, on from the start."""

import dagster as dg


def once_when_missing() -> dg.AutomationCondition:
    """Materialize when missing, also on the sensor's first evaluation (on_missing() skips what was missing
    before it): the catalog and the topic appear in the UI without anyone clicking."""
    AC = dg.AutomationCondition
    return (AC.missing().newly_true().since(AC.newly_requested() | AC.newly_updated()).with_label("missing")
            & ~AC.in_progress())


automation = dg.AutomationConditionSensorDefinition(
    "ratings_automation",
    target=dg.AssetSelection.all(include_sources=True),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    # The hourly condition has a custom part (defs/hourly.py), which only the code server can evaluate.
    use_user_code_server=True,
    description="Aggregates closed and late hours, makes the catalog and topics when missing, runs the records checks.",
)
