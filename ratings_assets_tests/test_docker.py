"""The Docker deployment in docker/, checked statically (no Docker engine needed).

These tests keep the compose file, the Dockerfile, the service configs and the
Dagster instance config in step with the code: setting names, service
addresses, the JVM flags of the local launcher, the one base image, pins read
from pyproject.toml and the one-stream-at-a-time run limit.
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
EXPECTED = {"kafka", "cassandra", "postgres", "code", "webserver", "daemon", "generator"}
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
    cmd = shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]
    return shlex.split(cmd[2]) if cmd[:2] == ["sh", "-c"] else cmd


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
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", f"{name} is not restarted when it dies"
        assert service["image"].startswith("ratings/"), f"{name} runs a third-party image: {service['image']}"
        assert service["build"]["dockerfile"] == "docker/Dockerfile" and service["build"]["target"], name

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
                       "RATINGS_CHECKPOINT_DIR", "DAGSTER_HOME"):
            assert env.get(needed), f"{name} does not set {needed}"


def properties(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_code_is_given_the_addresses_of_the_services_in_the_file(services):
    env = environment(services["code"])
    kafka = properties(DOCKER / "kafka" / "server.properties")
    advertised = set(re.findall(r"\w+://([^:,]+:\d+)", kafka["advertised.listeners"]))
    for host, port in host_ports(env["RATINGS_KAFKA_BOOTSTRAP"]):
        assert host == "kafka" and f"{host}:{port}" in advertised, f"{host}:{port} is not advertised ({advertised})"
    assert f"INTERNAL://kafka:{port}" in (DOCKER / "kafka" / "entrypoint.sh").read_text(), "the broker advertises another address"

    assert env["RATINGS_CASSANDRA_HOSTS"] == "cassandra"
    assert f"native_transport_port: {env['RATINGS_CASSANDRA_PORT']}" in (DOCKER / "cassandra" / "cassandra.yaml").read_text()
    # The stream's driver and executors run in the code server's container, where runs are launched.
    assert env["RATINGS_SPARK_MASTER"].startswith("local[")

    postgres = environment(services["postgres"])
    assert env["DAGSTER_POSTGRES_HOST"] == "postgres"
    for key in ("USER", "PASSWORD", "DB"):
        assert env[f"DAGSTER_POSTGRES_{key}"] == postgres[f"POSTGRES_{key}"], key


def test_the_jvms_run_with_the_local_launchers_flags():
    from ratings_assets.localstack import cassandra, kafka

    def argfile(path: Path) -> list[str]:
        return [arg for line in path.read_text().splitlines() if not line.startswith("#") for arg in line.split()]

    assert argfile(DOCKER / "kafka" / "jvm.options") == kafka.JVM_FLAGS
    assert argfile(DOCKER / "cassandra" / "jvm.options") == cassandra.JVM_FLAGS + cassandra.JPMS_FLAGS


def test_the_checkpoint_is_on_a_volume_of_the_code_server(services):
    checkpoint = environment(services["code"])["RATINGS_CHECKPOINT_DIR"]
    targets = [volume.split(":")[1] for volume in services["code"]["volumes"]]
    assert any(checkpoint.startswith(target.rstrip("/") + "/") for target in targets), f"{checkpoint} is on no volume"


def test_every_stage_comes_from_the_one_base_argument(dockerfile, services):
    stages = {}
    for instruction in dockerfile:
        if match := re.fullmatch(r"FROM\s+(\S+)\s+AS\s+(\S+)", instruction, re.I):
            stages[match.group(2)] = match.group(1)
    roots = {stage: parent for stage, parent in stages.items() if parent not in stages}
    assert roots == {"system": "${BASE}"}, f"stages not built from the BASE argument: {roots}"
    assert any(i.startswith("ARG BASE=") for i in dockerfile)
    assert {service["build"]["target"] for service in services.values()} <= set(stages)


def test_dockerfile_installs_the_project_as_pinned_in_pyproject(dockerfile):
    pip_installs = [i for i in dockerfile if re.search(r"\bpip3? install\b", i)]
    text = "\n".join(pip_installs)
    # The pins are read from pyproject.toml in the image, never restated.
    assert 'tomllib.load(open("pyproject.toml"' in text and '["dependencies"]' in text
    assert "pip install --no-deps -e ." in text, "the project itself is not installed"
    assert not re.findall(r"[A-Za-z0-9_-]+==[0-9]", "\n".join(dockerfile)), "a version pinned in the Dockerfile"
    steps = [i for i in dockerfile if i.startswith(("COPY ", "RUN "))]
    deps = next(n for n, i in enumerate(steps) if "pins.txt" in i)
    assert steps.index("COPY pyproject.toml ./") < deps < steps.index("COPY ratings_assets ./ratings_assets"), \
        "a code change would reinstall the dependencies"


def test_image_paths_match_compose(dockerfile, services):
    env = dockerfile_env(dockerfile)
    # The project runs from its folder, as from a checkout: the jars go where settings look by default.
    assert "RATINGS_STATE_DIR" not in env and "pip install --no-deps -e . && rm -rf build" in " ".join(dockerfile)
    jar_copies = [i.split()[-1].rstrip("/") for i in dockerfile if i.startswith("COPY --from=jars /jars/spark")]
    assert jar_copies == [str(Path(settings.spark_jars_dir()).relative_to(REPO))], "the jars are not where the code looks"
    assert "COPY ratings_assets/localstack/maven/ /poms/" in dockerfile, "jars resolved from other poms"

    home = env["DAGSTER_HOME"]
    assert any(re.fullmatch(rf"COPY docker/dagster\.yaml {re.escape(home)}/dagster\.yaml", i) for i in dockerfile)
    for name in PROJECT_SERVICES:
        assert environment(services[name])["DAGSTER_HOME"] == home, name


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


def test_published_on_loopback_only_on_the_ports_of_make_run_unless_overridden(services):
    published = {}
    for name, service in services.items():
        for port in service.get("ports") or []:
            host_ip, host_port, container_port = resolve(port).split(":")
            published[name] = (host_ip, int(host_port), int(container_port))
            assert re.fullmatch(r"127\.0\.0\.1:\$\{DOCKER_[A-Z]+_PORT:-\d+\}:\d+", port), port
    assert published == {"webserver": ("127.0.0.1", settings.UI_PORT.value(), 3000),
                         "kafka": ("127.0.0.1", 9092, 9092),
                         "cassandra": ("127.0.0.1", settings.CASSANDRA_PORT.value(), 9042)}
