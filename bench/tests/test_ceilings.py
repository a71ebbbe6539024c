"""The parts of the ceilings that need no services: ProducerPerformance's command and output."""

import pytest

from bench.ceilings import parse_producer_performance, producer_performance_command

OUTPUT = """\
452161 records sent, 90432.2 records/sec (13.80 MB/sec), 1700.4 ms avg latency, 2150.0 ms max latency.
1000000 records sent, 147601.476015 records/sec (22.52 MB/sec), 1324.60 ms avg latency, 2225.00 ms max latency, \
1350 ms 50th, 2046 ms 95th, 2175 ms 99th, 2214 ms 99.9th.
"""


def test_the_final_summary_line_is_the_figure():
    figures = parse_producer_performance(OUTPUT)
    assert figures["records"] == 1_000_000
    assert figures["records_per_s"] == pytest.approx(147601.476015)
    assert figures["mb_per_s"] == 22.52 and figures["p99_ms"] == 2175


def test_no_summary_is_an_error():
    with pytest.raises(ValueError, match="no ProducerPerformance summary"):
        parse_producer_performance("Exception in thread main")


def test_command_asks_for_acks_all_and_the_given_size():
    command = producer_performance_command("java", "/jars", "t", 100, "127.0.0.1:9092", extra_props={"linger.ms": "5"})
    assert command[:5] == ["java", "-Xmx512m", "-cp", "/jars/*", "org.apache.kafka.tools.ProducerPerformance"]
    assert command[command.index("--record-size") + 1] == "160" and command[command.index("--throughput") + 1] == "-1"
    assert command[-3:] == ["bootstrap.servers=127.0.0.1:9092", "acks=all", "linger.ms=5"]
