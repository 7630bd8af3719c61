"""The deployment files (deploy/) wire every part the way the code expects it. No container
engine runs here, so the files are read and checked, not built."""

import os
import re
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from waymark_kernel.settings import SERVICE_NAMES, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
PARTS = ("gateway", *SERVICE_NAMES)
PORTS = {"gateway": 8000, "registry": 8001, "referrals": 8002, "notifications": 8003}

COMMON_SETTINGS = {
    "WAYMARK_MODE",
    "WAYMARK_HOST",
    "WAYMARK_PORT",
    "WAYMARK_POSTGRES_URL",
    "WAYMARK_BROKER_URL",
}
SETTINGS_NEEDED = {
    "gateway": COMMON_SETTINGS
    | {
        "WAYMARK_ADMIN_CLIENT_SECRET",
        "WAYMARK_SIGNING_KEY_FILE",
        "WAYMARK_REGISTRY_URL",
        "WAYMARK_REFERRALS_URL",
        "WAYMARK_NOTIFICATIONS_URL",
        "WAYMARK_ENCRYPTION_KEY",
    },
    "registry": COMMON_SETTINGS | {"WAYMARK_JWKS_URL"},
    "referrals": COMMON_SETTINGS | {"WAYMARK_JWKS_URL", "WAYMARK_ENCRYPTION_KEY"},
    "notifications": COMMON_SETTINGS | {"WAYMARK_JWKS_URL", "WAYMARK_ENCRYPTION_KEY"},
}
# The referrals key: a migration may convert data to sealed form.
MIGRATE_SETTINGS_NEEDED = {"WAYMARK_POSTGRES_URL", "WAYMARK_ENCRYPTION_KEY"}
# Not a field of the kernel's Settings: the gateway reads this path itself.
GATEWAY_ONLY_SETTINGS = {"WAYMARK_SIGNING_KEY_FILE"}


def parse_waymark_command(args: list[str]) -> tuple[str, str | None, int | None]:
    """(verb, part, port) of a container's `waymark ...` command; fails on anything else."""
    assert args[0] == "waymark", args
    verb, rest = args[1], args[2:]
    if verb == "migrate":
        assert set(rest) <= set(PARTS), args
        return verb, None, None
    assert verb == "serve", f"{args}: only `serve` and `migrate` belong in a container"
    part, options = rest[0], dict(zip(rest[1::2], rest[2::2], strict=True))
    assert part in PARTS, args
    assert set(options) <= {"--host", "--port"}, args
    return verb, part, int(options["--port"]) if "--port" in options else None


def interpolate(value: str) -> str:
    """Compose's ${VARIABLE...} references, given a value as Compose would."""
    return re.sub(r"\$\{[^}]*\}", "value", value)


def entrypoint_file_settings() -> set[str]:
    """The settings docker-entrypoint.sh reads from the file named by <SETTING>_FILE."""
    return set(
        re.findall(r"^from_file (WAYMARK_\w+)", (DEPLOY / "docker-entrypoint.sh").read_text(), re.M)
    )


def assert_known_setting(name: str) -> None:
    fields = {f"WAYMARK_{field.upper()}" for field in Settings.model_fields}
    file_settings = {f"{setting}_FILE" for setting in entrypoint_file_settings()}
    assert name in fields | file_settings | GATEWAY_ONLY_SETTINGS, f"{name} is no Waymark setting"


# --- Compose ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def compose_parts(compose: dict) -> dict[str, tuple[str, dict]]:
    """part -> (compose service name, service) for the services that serve a part."""
    found: dict[str, tuple[str, dict]] = {}
    for name, service in compose["services"].items():
        command = service.get("command")
        if command and command[0] == "waymark" and command[1] == "serve":
            part = command[2]
            assert part not in found, f"{part} is served by {found[part][0]} and {name}"
            found[part] = (name, service)
    assert set(found) == set(PARTS)
    return found


def waymark_services(compose: dict) -> dict[str, dict]:
    return {
        name: service
        for name, service in compose["services"].items()
        if (service.get("command") or [""])[0] == "waymark"
    }


def compose_settings(compose: dict, service: dict) -> dict[str, str]:
    """What a service's process sees, with <SETTING>_FILE secrets resolved to their names."""
    environment = {name: str(value) for name, value in service.get("environment", {}).items()}
    for name, path in list(environment.items()):
        if name.removesuffix("_FILE") in entrypoint_file_settings():
            secret = path.removeprefix("/run/secrets/")
            assert secret in service.get("secrets", []), f"{name} names a secret not given to it"
            assert secret in compose["secrets"]
            environment[name.removesuffix("_FILE")] = f"<secret {secret}>"
    return environment


def test_every_waymark_service_is_built_from_the_repository_root_with_the_dockerfile(compose):
    services = waymark_services(compose)
    assert "migrate" in services
    for name, service in services.items():
        build = service["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert build["dockerfile"] == "deploy/Dockerfile", name
        assert (ROOT / build["dockerfile"]).is_file()


def test_every_command_is_a_verb_of_the_waymark_command(compose):
    verbs = {
        name: parse_waymark_command(service["command"])
        for name, service in waymark_services(compose).items()
    }
    assert verbs["migrate"] == ("migrate", None, None)
    assert sorted(part for _, part, _ in verbs.values() if part) == sorted(PARTS)


@pytest.mark.parametrize("part", PARTS)
def test_each_part_gets_the_settings_it_needs(compose, compose_parts, part):
    _, service = compose_parts[part]
    settings = compose_settings(compose, service)
    assert SETTINGS_NEEDED[part] <= set(settings), SETTINGS_NEEDED[part] - set(settings)
    assert settings["WAYMARK_MODE"] == "distributed"
    assert settings["WAYMARK_HOST"] == "0.0.0.0"
    _, _, port = parse_waymark_command(service["command"])
    assert port == int(settings["WAYMARK_PORT"]) == PORTS[part]
    for name in service["environment"]:
        assert_known_setting(name)


def test_migrate_gets_the_database(compose):
    settings = compose_settings(compose, compose["services"]["migrate"])
    assert MIGRATE_SETTINGS_NEEDED <= set(settings)


def test_the_parts_find_each_other_the_database_and_the_broker(compose, compose_parts):
    address = {part: f"http://{name}:{PORTS[part]}" for part, (name, _) in compose_parts.items()}
    for part, (_, service) in compose_parts.items():
        settings = compose_settings(compose, service)
        for service_name in SERVICE_NAMES:
            if f"WAYMARK_{service_name.upper()}_URL" in settings:
                assert settings[f"WAYMARK_{service_name.upper()}_URL"] == address[service_name]
        if "WAYMARK_JWKS_URL" in settings:
            assert settings["WAYMARK_JWKS_URL"] == f"{address['gateway']}/.well-known/jwks.json"
        database = urlsplit(interpolate(settings["WAYMARK_POSTGRES_URL"]))
        assert database.scheme == "postgresql+asyncpg" and database.path in ("", "/"), part
        assert (
            database.hostname in compose["services"]
            and "postgres" in compose["services"][database.hostname]["image"]
        )
        broker = urlsplit(interpolate(settings["WAYMARK_BROKER_URL"]))
        assert broker.scheme == "amqp"
        assert (
            broker.hostname in compose["services"]
            and "rabbitmq" in compose["services"][broker.hostname]["image"]
        )


def test_only_the_gateway_is_published(compose, compose_parts):
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {compose_parts["gateway"][0]}


def test_migrations_run_after_postgres_and_before_every_part(compose, compose_parts):
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert "healthcheck" in services["rabbitmq"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"].get("restart", "no") == "no"
    for name, service in compose_parts.values():
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", (
            name
        )
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), name
        assert service["restart"] == "unless-stopped", name


def test_secrets_come_from_uncommitted_files_that_have_committed_templates(compose):
    for name, secret in compose["secrets"].items():
        path = (DEPLOY / secret["file"]).resolve()
        assert path.parent == DEPLOY / "secrets", name
        assert path.with_name(path.name + ".example").is_file(), name
        ignored = subprocess.run(["git", "check-ignore", "--quiet", str(path)], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} could be committed"


def test_every_compose_variable_is_described_in_the_env_example():
    variables = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yaml").read_text()))
    described = set(re.findall(r"^(\w+)=", (DEPLOY / ".env.example").read_text(), re.M))
    assert variables <= described, variables - described


def test_the_entrypoint_reads_secret_files_into_settings(tmp_path):
    secret = tmp_path / "admin_client_secret"
    secret.write_text("a-secret\n")
    environment = {"PATH": os.environ["PATH"], "WAYMARK_ADMIN_CLIENT_SECRET_FILE": str(secret)}
    result = subprocess.run(
        ["sh", str(DEPLOY / "docker-entrypoint.sh"), "env"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert seen["WAYMARK_ADMIN_CLIENT_SECRET"] == "a-secret"
    assert "WAYMARK_ENCRYPTION_KEY" not in seen

    environment["WAYMARK_ENCRYPTION_KEY_FILE"] = str(tmp_path / "missing")
    missing = subprocess.run(
        ["sh", str(DEPLOY / "docker-entrypoint.sh"), "true"], env=environment, capture_output=True
    )
    assert missing.returncode != 0


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            if current.strip():
                instruction, _, arguments = current.strip().partition(" ")
                logical.append((instruction.upper(), " ".join(arguments.split())))
            current = ""
    return logical


def copy_sources(arguments: str) -> list[str]:
    words = [word for word in arguments.split() if not word.startswith("--")]
    return words[:-1]


def workspace_members() -> list[str]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return root["tool"]["uv"]["workspace"]["members"]


def test_dependencies_are_installed_from_the_lock_before_the_sources_are_copied():
    instructions = dockerfile_instructions()
    dependency_sync = next(
        index
        for index, (instruction, arguments) in enumerate(instructions)
        if instruction == "RUN" and "uv sync" in arguments and "--no-install-workspace" in arguments
    )
    assert (
        "--frozen" in instructions[dependency_sync][1]
        and "--no-dev" in instructions[dependency_sync][1]
    )
    copied_before = [
        source
        for instruction, arguments in instructions[:dependency_sync]
        if instruction == "COPY"
        for source in copy_sources(arguments)
    ]
    assert all(Path(source).name in ("pyproject.toml", "uv.lock") for source in copied_before), (
        copied_before
    )
    project_files = {"pyproject.toml", "uv.lock"} | {
        f"{member}/pyproject.toml" for member in workspace_members()
    }
    assert project_files <= set(copied_before), project_files - set(copied_before)

    copied_after = {
        source.rstrip("/")
        for instruction, arguments in instructions[dependency_sync:]
        if instruction == "COPY" and "--from" not in arguments
        for source in copy_sources(arguments)
    }
    assert set(workspace_members()) <= copied_after
    workspace_sync = [
        index
        for index, (instruction, arguments) in enumerate(instructions)
        if index > dependency_sync and instruction == "RUN" and "uv sync --frozen" in arguments
    ]
    last_source_copy = max(
        index
        for index, (instruction, arguments) in enumerate(instructions)
        if instruction == "COPY" and set(copy_sources(arguments)) & set(workspace_members())
    )
    assert workspace_sync and workspace_sync[-1] > last_source_copy


def test_uv_is_pinned_and_the_base_is_python_311_slim():
    instructions = dockerfile_instructions()
    assert any(
        instruction == "RUN" and re.search(r"pip install [^&]*\buv==\d+\.\d+\.\d+\b", arguments)
        for instruction, arguments in instructions
    )
    arguments = {
        name: default
        for instruction, argument in instructions
        if instruction == "ARG"
        for name, _, default in [argument.partition("=")]
    }
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda match: arguments[match.group(1)], argument.split()[0])
        for instruction, argument in instructions
        if instruction == "FROM"
    ]
    assert len(bases) >= 2 and set(bases) == {"python:3.11-slim"}


def test_the_image_runs_as_a_non_root_user_and_checks_its_health():
    instructions = dockerfile_instructions()
    final_stage = instructions[
        max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM") :
    ]
    final = {instruction: arguments for instruction, arguments in final_stage}
    assert final["USER"].split(":")[0] not in ("root", "0")
    assert "python" in final["HEALTHCHECK"] and "/healthz" in final["HEALTHCHECK"]
    assert set(map(str, PORTS.values())) <= set(final["EXPOSE"].split())
    assert yaml.safe_load(final["CMD"]) == ["waymark", "serve", "gateway"]


def test_everything_the_dockerfile_copies_exists_and_is_in_the_build_context():
    kept = [
        line[1:].strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for instruction, arguments in dockerfile_instructions():
        if instruction != "COPY" or "--from" in arguments:
            continue
        for source in copy_sources(arguments):
            assert (ROOT / source).exists(), source
            assert any(source.rstrip("/") == k or source.startswith(k + "/") for k in kept), source


# --- Kubernetes -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    files = sorted(KUBERNETES.glob("*.yaml")) + [KUBERNETES / "secret.yaml.example"]
    documents = [
        document for path in files for document in yaml.safe_load_all(path.read_text()) if document
    ]
    for document in documents:
        assert document["apiVersion"] and document["kind"] and document["metadata"]["name"]
    return documents


def of_kind(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {
        document["metadata"]["name"]: document for document in manifests if document["kind"] == kind
    }


def only_container(workload: dict) -> dict:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def container_settings(manifests: list[dict], container: dict) -> set[str]:
    config_maps = of_kind(manifests, "ConfigMap")
    names = {variable["name"] for variable in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(config_maps[source["configMapRef"]["name"]]["data"])
    return names


def assert_locked_down(workload: dict) -> None:
    pod = workload["spec"]["template"]["spec"]
    container = only_container(workload)
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert security["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]


@pytest.mark.parametrize("part", PARTS)
def test_each_part_has_a_deployment_with_probes_and_a_service(manifests, part):
    deployment = of_kind(manifests, "Deployment")[f"waymark-{part}"]
    container = only_container(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert parse_waymark_command(container["args"]) == ("serve", part, PORTS[part])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": PORTS[part]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert_locked_down(deployment)

    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = of_kind(manifests, "Service")[f"waymark-{part}"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "http", "port": PORTS[part], "targetPort": "http"}]


@pytest.mark.parametrize("part", PARTS)
def test_each_deployment_gets_the_settings_it_needs_from_the_config_map_and_secret(manifests, part):
    container = only_container(of_kind(manifests, "Deployment")[f"waymark-{part}"])
    settings = container_settings(manifests, container)
    assert SETTINGS_NEEDED[part] <= settings, SETTINGS_NEEDED[part] - settings
    for name in settings:
        assert_known_setting(name)
    port = next(
        variable["value"] for variable in container["env"] if variable["name"] == "WAYMARK_PORT"
    )
    assert int(port) == PORTS[part]


def test_secret_references_match_the_secret_template(manifests):
    (secret,) = of_kind(manifests, "Secret").values()
    for workload in [
        *of_kind(manifests, "Deployment").values(),
        *of_kind(manifests, "Job").values(),
    ]:
        for variable in only_container(workload).get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["name"] == secret["metadata"]["name"]
                assert reference["key"] in secret["stringData"], reference


def test_the_gateway_reads_the_signing_key_from_the_secret(manifests):
    (secret,) = of_kind(manifests, "Secret").values()
    gateway = of_kind(manifests, "Deployment")["waymark-gateway"]
    container = only_container(gateway)
    key_file = Path(
        next(v["value"] for v in container["env"] if v["name"] == "WAYMARK_SIGNING_KEY_FILE")
    )
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == key_file.parent)
    volume = next(
        v for v in gateway["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    )
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert {"key": "signing-key.pem", "path": key_file.name} in volume["secret"]["items"]
    assert "signing-key.pem" in secret["stringData"]


def test_the_config_map_points_at_the_services(manifests):
    (config_map,) = of_kind(manifests, "ConfigMap").values()
    settings = config_map["data"]
    assert settings["WAYMARK_MODE"] == "distributed"
    assert settings["WAYMARK_HOST"] == "0.0.0.0"
    for service_name in SERVICE_NAMES:
        assert (
            settings[f"WAYMARK_{service_name.upper()}_URL"]
            == f"http://waymark-{service_name}:{PORTS[service_name]}"
        )
    assert (
        settings["WAYMARK_JWKS_URL"]
        == f"http://waymark-gateway:{PORTS['gateway']}/.well-known/jwks.json"
    )
    services = of_kind(manifests, "Service")
    assert {f"waymark-{part}" for part in PARTS} <= set(services)


def test_a_job_runs_the_migrations(manifests):
    (job,) = of_kind(manifests, "Job").values()
    container = only_container(job)
    assert parse_waymark_command(container["args"]) == ("migrate", None, None)
    assert MIGRATE_SETTINGS_NEEDED <= container_settings(manifests, container)
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert_locked_down(job)
