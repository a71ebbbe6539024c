"""The Docker deployment in docker/, checked statically (no Docker engine needed).

These tests keep the compose file, the Dockerfile and the Dagster instance
config in step with the code: setting names, service addresses, pinned
versions and the one-stream-at-a-time run limit.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from ratings_assets import settings

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"

# Services that run for good and so must report their health.
LONG_RUNNING = {"kafka", "cassandra", "spark-master", "spark-worker", "postgres", "code", "webserver", "daemon"}
EXPECTED = LONG_RUNNING | {"generator"}
# The services that run the project's code and read its settings.
PROJECT_SERVICES = ("code", "webserver", "daemon")

INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


def resolve(value) -> str:
    """A compose value as it is with an empty shell: ${VAR:-default} -> default."""
    def default(match: re.Match) -> str:
        return match.group(3) if match.group(2) in (":-", "-") else ""

    return INTERPOLATION.sub(default, str(value)).replace("$$", "$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (DOCKER / "compose.yaml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: resolve(value) for key, value in env.items()}


def command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def option(cmd: list[str], *names: str) -> str:
    for i, part in enumerate(cmd[:-1]):
        if part in names:
            return cmd[i + 1]
    raise AssertionError(f"none of {names} in {cmd}")


def host_ports(addresses: str) -> list[tuple[str, int]]:
    pairs = []
    for address in addresses.split(","):
        host, _, port = address.strip().rpartition(":")
        pairs.append((host, int(port)))
    return pairs


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (DOCKER / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [" ".join(part.strip() for part in chunk.split("\\\n")).strip()
            for chunk in re.split(r"(?<!\\)\n", "\n".join(lines)) if chunk.strip()]


def dockerfile_env(dockerfile: list[str]) -> dict[str, str]:
    env = {}
    for instruction in dockerfile:
        if instruction.upper().startswith("ENV "):
            for pair in shlex.split(instruction[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def test_compose_has_the_services_with_health_checks_and_declared_volumes(compose, services):
    assert EXPECTED <= set(services), f"missing services: {EXPECTED - set(services)}"
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
    assert services["generator"].get("profiles") == ["demo"], "the generator runs only with --profile demo"

    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            if source and not source.startswith((".", "/", "~")):
                used.add(source)
    assert used, "the services keep no data in named volumes"
    assert used <= declared, f"volumes used but not declared: {used - declared}"
    for name in ("kafka", "cassandra", "postgres"):
        assert services[name].get("volumes"), f"{name} keeps its data in no volume"


def test_every_ratings_variable_is_a_setting_of_the_code(compose_text, services, dockerfile):
    known = {s.env for s in settings.ALL}
    in_compose = set(re.findall(r"\bRATINGS_[A-Z0-9_]+", compose_text))
    in_dockerfile = {name for name in dockerfile_env(dockerfile) if name.startswith("RATINGS_")}
    assert in_compose, "compose.yaml configures none of the project's settings"
    assert in_compose <= known, f"not settings of ratings_assets.settings: {sorted(in_compose - known)}"
    assert in_dockerfile <= known, f"not settings of ratings_assets.settings: {sorted(in_dockerfile - known)}"
    for name in PROJECT_SERVICES:
        env = environment(services[name])
        for needed in ("RATINGS_KAFKA_BOOTSTRAP", "RATINGS_CASSANDRA_HOSTS", "RATINGS_SPARK_MASTER",
                       "RATINGS_STATE_DIR", "RATINGS_CHECKPOINT_DIR", "DAGSTER_HOME"):
            assert env.get(needed), f"{name} does not set {needed}"


def test_the_code_is_given_the_addresses_of_the_services_in_the_file(services):
    env = environment(services["code"])

    kafka_env = environment(services["kafka"])
    advertised = {(host, port) for _, host, port in
                  re.findall(r"(\w+)://([^:,]+):(\d+)", kafka_env["KAFKA_ADVERTISED_LISTENERS"])}
    for host, port in host_ports(env["RATINGS_KAFKA_BOOTSTRAP"]):
        assert host == "kafka" and (host, str(port)) in advertised, \
            f"bootstrap {host}:{port} is not a listener kafka advertises ({advertised})"

    for host in env["RATINGS_CASSANDRA_HOSTS"].split(","):
        assert host.strip() == "cassandra" and services["cassandra"]["image"].startswith("cassandra:")
    assert env.get("RATINGS_CASSANDRA_PORT", settings.CASSANDRA_PORT.default) == "9042"  # the image's native port

    master = re.fullmatch(r"spark://([^:]+):(\d+)", env["RATINGS_SPARK_MASTER"])
    assert master, env["RATINGS_SPARK_MASTER"]
    master_cmd = command(services[master.group(1)])
    assert "org.apache.spark.deploy.master.Master" in master_cmd
    assert option(master_cmd, "--port", "-p") == master.group(2)
    assert env["RATINGS_SPARK_MASTER"] in command(services["spark-worker"]), "the worker joins another master"
    # Executors connect back to the driver, which runs in the code service.
    assert env["RATINGS_SPARK_DRIVER_HOST"] == "code"

    postgres = environment(services["postgres"])
    assert env["DAGSTER_POSTGRES_HOST"] == "postgres"
    for key in ("USER", "PASSWORD", "DB"):
        assert env[f"DAGSTER_POSTGRES_{key}"] == postgres[f"POSTGRES_{key}"], key


def test_checkpoints_are_on_a_volume_that_driver_and_executors_share(services):
    checkpoint = environment(services["code"])["RATINGS_CHECKPOINT_DIR"]

    def mount_of(service: dict) -> tuple[str, str]:
        for volume in service.get("volumes") or []:
            source, target = volume.split(":")[:2]
            if checkpoint.startswith(target.rstrip("/") + "/"):
                return source, target
        raise AssertionError(f"{checkpoint} is on no volume")

    assert mount_of(services["code"]) == mount_of(services["spark-worker"])


def test_dockerfile_installs_the_project_as_pinned_in_pyproject(dockerfile):
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = {}
    for requirement in pyproject["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[normalize(name)] = version.strip()
    # Dagster's integration libraries (0.x) are released together with dagster 1.x.
    integration_versions = {v for n, v in pins.items() if n.startswith("dagster-") and v.startswith("0.")}

    pip_installs = [i for i in dockerfile if re.search(r"\bpip3? install\b", i)]
    assert pip_installs, "the Dockerfile installs nothing with pip"
    text = "\n".join(pip_installs)
    assert " -r " not in text and "requirements" not in text, "dependencies come from pyproject.toml only"

    # pip installs the folder that pyproject.toml was copied into.
    copied = [i.split()[-1] for i in dockerfile if re.match(r"COPY\s+(--\S+\s+)*pyproject\.toml\s", i)]
    assert copied, "pyproject.toml is not copied into the image"
    project_dir = str(Path(copied[0])).removesuffix("/pyproject.toml") if copied[0].endswith(".toml") else copied[0]
    install_args = re.findall(r"\bpip3? install\s+(.*?)(?:&&|$)", text)
    targets = {arg for args in install_args for arg in shlex.split(args) if not arg.startswith("-")}
    assert project_dir.rstrip("/") in {t.rstrip("/") for t in targets} or "." in targets, \
        f"pip does not install the project folder {project_dir}: {install_args}"

    for name, version in re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s\"']*)", "\n".join(dockerfile)):
        name = normalize(name)
        if name in pins:
            assert version == pins[name], f"{name}=={version} in the Dockerfile, {pins[name]} in pyproject.toml"
        else:
            assert name.startswith("dagster-") and version in integration_versions, \
                f"{name}=={version} is pinned in the Dockerfile only and does not match dagster's release"


def test_image_paths_match_compose(dockerfile, services):
    env = dockerfile_env(dockerfile)
    state_dir = env["RATINGS_STATE_DIR"]
    jar_copies = [i.split()[-1] for i in dockerfile if i.startswith("COPY --from=")]
    workdir = [i.split()[1] for i in dockerfile if i.startswith("WORKDIR ")][-1]
    destinations = {str(Path(workdir) / d) if not d.startswith("/") else d for d in jar_copies}
    assert str(Path(state_dir) / "jars" / "spark") in {d.rstrip("/") for d in destinations}, \
        "the connector jars are not where the code lists them (STATE_DIR/jars/spark)"
    assert "ratings_assets/localstack/maven/spark.xml" in "\n".join(dockerfile), "jars resolved from another pom"

    home = env["DAGSTER_HOME"]
    assert any(re.fullmatch(rf"COPY docker/dagster\.yaml {re.escape(home)}/dagster\.yaml", i) for i in dockerfile)
    for name in PROJECT_SERVICES:
        compose_env = environment(services[name])
        assert compose_env["DAGSTER_HOME"] == home, name
        assert compose_env["RATINGS_STATE_DIR"] == state_dir, name


def test_dagster_instance_allows_one_stream_run_at_a_time(services):
    from ratings_assets.defs.stream_job import STREAM_TAG

    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    coordinator = instance["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    for key in STREAM_TAG:
        assert {"key": key, "limit": 1} in limits, f"runs tagged {key} are not limited to one"
    assert coordinator["config"]["max_concurrent_runs"] >= 2, "the stream would block every other run"

    assert instance["run_monitoring"]["enabled"] is True
    assert instance["run_monitoring"]["max_resume_run_attempts"] == 0
    assert instance["run_retries"] == {"enabled": True, "max_retries": 0}
    assert instance["telemetry"]["enabled"] is False

    # Postgres storage, every connection value from a variable that compose sets.
    db = instance["storage"]["postgres"]["postgres_db"]
    variables = {value["env"] for value in db.values()}
    assert set(db) == {"hostname", "port", "username", "password", "db_name"}
    for name in PROJECT_SERVICES:
        assert variables <= set(environment(services[name])), name


def test_workspace_points_at_the_code_service(services):
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    server = entry["grpc_server"]
    code_cmd = command(services["code"])
    assert server["host"] == "code"
    assert str(server["port"]) == option(code_cmd, "-p", "--port")
    assert option(code_cmd, "-m", "--module-name") == "ratings_assets.definitions"
    assert server["location_name"] == pyproject["tool"]["dg"]["project"]["code_location_name"]
    for name in ("webserver", "daemon"):
        assert option(command(services[name]), "-w", "--workspace") == "/opt/dagster/workspace.yaml", name


def test_only_the_webserver_is_published_and_on_loopback_only(services):
    published = {}
    for name, service in services.items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                published[name] = published.get(name, []) + [(port.get("host_ip", ""), str(port.get("published")))]
            else:
                host_ip, _, rest = resolve(port).rpartition(":")[0].rpartition(":")
                published[name] = published.get(name, []) + [(host_ip, rest)]
    assert set(published) == {"webserver"}, f"published ports: {published}"
    assert published["webserver"] == [("127.0.0.1", "3000")]
    assert "127.0.0.1:3000:3000" in services["webserver"]["ports"]
