import pytest

from ratings_assets.localstack import java as java_module
from ratings_assets.localstack.errors import StackError
from ratings_assets.localstack.java import find_java, parse_java_version


@pytest.mark.parametrize("output, expected", [
    ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', ("17.0.15", 17)),
    ('openjdk version "25.0.3" 2026-04-21 LTS', ("25.0.3", 25)),
    ('java version "1.8.0_392"\nJava(TM) SE Runtime Environment', ("1.8.0_392", 8)),
    ('openjdk version "21-ea" 2023-09-19', ("21-ea", 21)),
    ('Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version "11.0.2" 2019-01-15', ("11.0.2", 11)),
])
def test_parse_java_version(output, expected):
    assert parse_java_version(output) == expected


def test_parse_garbage_raises():
    with pytest.raises(ValueError):
        parse_java_version("command not found")


def _fake_jdk(tmp_path, version):
    """A JDK folder whose bin/java only answers -version, like the real one does (on stderr)."""
    java = tmp_path / f"jdk-{version}" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-01' >&2\n")
    java.chmod(0o755)
    return java.parent.parent


def test_explicit_java_home_that_fits(tmp_path):
    home = _fake_jdk(tmp_path, "17.0.9")
    info = find_java(17, 23, java_home=home)
    assert (info.major, info.executable) == (17, home / "bin" / "java")


def test_explicit_java_home_too_new_for_cassandra(tmp_path):
    home = _fake_jdk(tmp_path, "25.0.1")
    with pytest.raises(StackError, match="RATINGS_JAVA_HOME.*25.0.1.*17 to 23"):
        find_java(17, 23, java_home=home, purpose="Cassandra 5.0")


def test_search_skips_unsuitable_javas(tmp_path, monkeypatch):
    javas = [_fake_jdk(tmp_path, v) / "bin" / "java" for v in ("11.0.2", "25.0.1", "17.0.15")]
    monkeypatch.setattr(java_module, "_candidates", lambda java_home: javas)
    assert find_java(17, 23).executable == javas[2]
    assert find_java(17).executable == javas[1]


def test_search_that_cannot_succeed_says_what_to_do(tmp_path, monkeypatch):
    javas = [_fake_jdk(tmp_path, "11.0.2") / "bin" / "java"]
    monkeypatch.setattr(java_module, "_candidates", lambda java_home: javas)
    with pytest.raises(StackError, match=r"(?s)Java 17 to 23; found only: .*11\.0\.2.*RATINGS_JAVA_HOME"):
        find_java(17, 23, purpose="Cassandra 5.0")
