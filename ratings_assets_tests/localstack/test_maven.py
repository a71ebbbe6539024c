"""Jar resolution runs Maven only when the pom changed (marker with the pom's hash)."""

import hashlib

import pytest

from ratings_assets.localstack import maven
from ratings_assets.localstack.errors import StackError
from ratings_assets.paths import PACKAGE_DIR


def _fake_maven(calls):
    def run(service, out_dir):
        calls.append(service)
        out_dir.mkdir(parents=True)
        (out_dir / f"{service}-1.0.jar").write_bytes(b"jar")
    return run


def test_resolves_once_then_skips(tmp_config, monkeypatch):
    calls = []
    monkeypatch.setattr(maven, "_run_maven", _fake_maven(calls))
    path = maven.resolve_jars("kafka", tmp_config)
    assert path == tmp_config.state_dir / "jars" / "kafka"
    # The marker is the SHA-256 of the pom file as committed, computed here from the file itself.
    pom = PACKAGE_DIR / "localstack" / "maven" / "kafka.xml"
    assert (path / maven.MARKER).read_text().strip() == hashlib.sha256(pom.read_bytes()).hexdigest()
    maven.resolve_jars("kafka", tmp_config)
    assert calls == ["kafka"]


def test_edited_pom_resolves_again(tmp_config, monkeypatch):
    calls = []
    monkeypatch.setattr(maven, "_run_maven", _fake_maven(calls))
    path = maven.resolve_jars("cassandra", tmp_config)
    (path / maven.MARKER).write_text("hash-of-an-older-pom\n")
    (path / "stale-0.1.jar").write_bytes(b"old")
    maven.resolve_jars("cassandra", tmp_config)
    assert calls == ["cassandra", "cassandra"]
    assert not (path / "stale-0.1.jar").exists()


def test_spark_connector_jars_sorted(tmp_config, monkeypatch):
    def run(service, out_dir):
        out_dir.mkdir(parents=True)
        for name in ("b.jar", "a.jar", "notes.txt"):
            (out_dir / name).write_bytes(b"")
    monkeypatch.setattr(maven, "_run_maven", run)
    assert [p.name for p in maven.spark_connector_jars(tmp_config)] == ["a.jar", "b.jar"]


def test_missing_maven_says_how_to_install(tmp_config, monkeypatch):
    monkeypatch.setattr(maven.shutil, "which", lambda name: None)
    with pytest.raises(StackError, match="(?s)Maven \\(mvn\\) is not on PATH.*apt-get install maven"):
        maven.resolve_jars("spark", tmp_config)


def test_failing_maven_shows_output_tail(tmp_config, tmp_path, monkeypatch):
    fake = tmp_path / "mvn"
    fake.write_text("#!/bin/sh\necho '[ERROR] Could not resolve dependencies: artifact not found'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(maven.shutil, "which", lambda name: str(fake))
    with pytest.raises(StackError, match="(?s)exit 1.*Could not resolve dependencies"):
        maven.resolve_jars("kafka", tmp_config)
    assert not maven.is_resolved("kafka", tmp_config)


def test_unknown_jar_set():
    with pytest.raises(StackError, match="no Maven pom"):
        maven.pom_path("flink")
