"""log4j2 configuration shared by the JVMs that log through log4j2 (Kafka, Spark's daemons and executors)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def rolling_file_log4j2(log_file: Path, pattern: str, levels: Mapping[str, str] | None = None) -> str:
    """log4j2 .properties: INFO to `log_file` only, rolled at 50 MB, 3 old files kept.

    The console is not configured: what a JVM prints before logging starts
    lands in the service's .out file. `levels` sets some loggers' levels
    (logger name -> level), e.g. to quiet a chatty one.
    """
    lines = [
        "status = warn",
        "appender.file.type = RollingFile",
        "appender.file.name = FILE",
        f"appender.file.fileName = {log_file}",
        f"appender.file.filePattern = {log_file}.%i",
        "appender.file.layout.type = PatternLayout",
        f"appender.file.layout.pattern = {pattern}",
        "appender.file.policies.type = Policies",
        "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
        "appender.file.policies.size.size = 50MB",
        "appender.file.strategy.type = DefaultRolloverStrategy",
        "appender.file.strategy.max = 3",
        "rootLogger.level = INFO",
        "rootLogger.appenderRef.file.ref = FILE",
        *_logger_levels(levels),
    ]
    return "\n".join(lines) + "\n"


def stderr_log4j2(pattern: str, root_level: str, levels: Mapping[str, str] | None = None) -> str:
    """log4j2 .properties: `root_level` and up to stderr, for a JVM whose stderr is its log (a Spark executor)."""
    lines = [
        "status = warn",
        "appender.console.type = Console",
        "appender.console.name = STDERR",
        "appender.console.target = SYSTEM_ERR",
        "appender.console.layout.type = PatternLayout",
        f"appender.console.layout.pattern = {pattern}",
        f"rootLogger.level = {root_level}",
        "rootLogger.appenderRef.console.ref = STDERR",
        *_logger_levels(levels),
    ]
    return "\n".join(lines) + "\n"


def _logger_levels(levels: Mapping[str, str] | None) -> list[str]:
    lines = []
    for index, (name, level) in enumerate((levels or {}).items()):
        lines += [f"logger.l{index}.name = {name}", f"logger.l{index}.level = {level}"]
    return lines
