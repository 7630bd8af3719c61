"""The deployment files (deploy/) wire every part the way the code expects it. No container
engine runs here, so the files are read and checked, not built."""

import copy
import ipaddress
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from waymark_gateway.settings import GatewaySettings
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
        re.findall(r"^from_file (WAYMARK_\w+)", (DEPLOY / "docker-entrypoint.sh").read_text(), re.MULTILINE)
    )


def assert_known_setting(name: str) -> None:
    fields = {f"WAYMARK_{field.upper()}" for field in GatewaySettings.model_fields}
    file_settings = {f"{setting}_FILE" for setting in entrypoint_file_settings()}
    assert name in fields | file_settings | GATEWAY_ONLY_SETTINGS, f"{name} is no Waymark setting"


# --- Compose ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


@pytest.fixture(scope="module")
def compose_parts(compose: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """part -> (compose service name, service) for the services that serve a part."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, service in compose["services"].items():
        command = service.get("command")
        if command and command[0] == "waymark" and command[1] == "serve":
            part = command[2]
            assert part not in found, f"{part} is served by {found[part][0]} and {name}"
            found[part] = (name, service)
    assert set(found) == set(PARTS)
    return found


def waymark_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if (service.get("command") or [""])[0] == "waymark"
    }


def compose_settings(compose: dict[str, Any], service: dict[str, Any]) -> dict[str, str]:
    """What a service's process sees, with <SETTING>_FILE secrets resolved to their names."""
    environment = {name: str(value) for name, value in service.get("environment", {}).items()}
    for name, path in list(environment.items()):
        if name.removesuffix("_FILE") in entrypoint_file_settings():
            secret = path.removeprefix("/run/secrets/")
            assert secret in service.get("secrets", []), f"{name} names a secret not given to it"
            assert secret in compose["secrets"]
            environment[name.removesuffix("_FILE")] = f"<secret {secret}>"
    return environment


def test_every_waymark_service_is_built_from_the_repository_root_with_the_dockerfile(
    compose: dict[str, Any]
) -> None:
    services = waymark_services(compose)
    assert "migrate" in services
    for name, service in services.items():
        build = service["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert build["dockerfile"] == "deploy/Dockerfile", name
        assert (ROOT / build["dockerfile"]).is_file()


def test_every_command_is_a_verb_of_the_waymark_command(compose: dict[str, Any]) -> None:
    verbs = {
        name: parse_waymark_command(service["command"])
        for name, service in waymark_services(compose).items()
    }
    assert verbs["migrate"] == ("migrate", None, None)
    assert sorted(part for _, part, _ in verbs.values() if part) == sorted(PARTS)


@pytest.mark.parametrize("part", PARTS)
def test_each_part_gets_the_settings_it_needs(
    compose: dict[str, Any], compose_parts: dict[str, tuple[str, dict[str, Any]]], part: str
) -> None:
    _, service = compose_parts[part]
    settings = compose_settings(compose, service)
    assert SETTINGS_NEEDED[part] <= set(settings), SETTINGS_NEEDED[part] - set(settings)
    assert settings["WAYMARK_MODE"] == "distributed"
    assert settings["WAYMARK_HOST"] == "0.0.0.0"
    _, _, port = parse_waymark_command(service["command"])
    assert port == int(settings["WAYMARK_PORT"]) == PORTS[part]
    for name in service["environment"]:
        assert_known_setting(name)


def test_migrate_gets_the_database(compose: dict[str, Any]) -> None:
    settings = compose_settings(compose, compose["services"]["migrate"])
    assert set(settings) >= MIGRATE_SETTINGS_NEEDED


def test_the_parts_find_each_other_the_database_and_the_broker(
    compose: dict[str, Any], compose_parts: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    address = {part: f"http://{name}:{PORTS[part]}" for part, (name, _) in compose_parts.items()}
    for part, (_, service) in compose_parts.items():
        settings = compose_settings(compose, service)
        for service_name in SERVICE_NAMES:
            if f"WAYMARK_{service_name.upper()}_URL" in settings:
                assert settings[f"WAYMARK_{service_name.upper()}_URL"] == address[service_name]
        if "WAYMARK_JWKS_URL" in settings:
            assert settings["WAYMARK_JWKS_URL"] == f"{address['gateway']}/.well-known/jwks.json"
        database = urlsplit(interpolate(settings["WAYMARK_POSTGRES_URL"]))
        assert database.scheme == "postgresql+asyncpg", part
        assert database.path in ("", "/"), part
        assert (
            database.hostname in compose["services"]
        )
        assert (
            "postgres" in compose["services"][database.hostname]["image"]
        )
        broker = urlsplit(interpolate(settings["WAYMARK_BROKER_URL"]))
        assert broker.scheme == "amqp"
        assert (
            broker.hostname in compose["services"]
        )
        assert (
            "rabbitmq" in compose["services"][broker.hostname]["image"]
        )


def test_only_the_gateway_is_published(
    compose: dict[str, Any], compose_parts: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {compose_parts["gateway"][0]}


def test_migrations_run_after_postgres_and_before_every_part(
    compose: dict[str, Any], compose_parts: dict[str, tuple[str, dict[str, Any]]]
) -> None:
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


@pytest.mark.integration
def test_secrets_come_from_uncommitted_files_that_have_committed_templates(
    compose: dict[str, Any]
) -> None:
    for name, secret in compose["secrets"].items():
        path = (DEPLOY / secret["file"]).resolve()
        assert path.parent == DEPLOY / "secrets", name
        assert path.with_name(path.name + ".example").is_file(), name
        ignored = subprocess.run(["git", "check-ignore", "--quiet", str(path)], check=False, cwd=ROOT)
        assert ignored.returncode == 0, f"{path} could be committed"


def test_every_compose_variable_is_described_in_the_env_example() -> None:
    variables = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yaml").read_text()))
    described = set(re.findall(r"^(\w+)=", (DEPLOY / ".env.example").read_text(), re.MULTILINE))
    assert variables <= described, variables - described


@pytest.mark.integration
def test_the_entrypoint_reads_secret_files_into_settings(tmp_path: Path) -> None:
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
        ["sh", str(DEPLOY / "docker-entrypoint.sh"), "true"], check=False, env=environment, capture_output=True
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
    members: list[str] = root["tool"]["uv"]["workspace"]["members"]
    return members


def test_dependencies_are_installed_from_the_lock_before_the_sources_are_copied() -> None:
    instructions = dockerfile_instructions()
    dependency_sync = next(
        index
        for index, (instruction, arguments) in enumerate(instructions)
        if instruction == "RUN" and "uv sync" in arguments and "--no-install-workspace" in arguments
    )
    assert (
        "--frozen" in instructions[dependency_sync][1]
    )
    assert (
        "--no-dev" in instructions[dependency_sync][1]
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
    assert workspace_sync
    assert workspace_sync[-1] > last_source_copy


def test_uv_is_pinned_and_the_base_is_python_311_slim() -> None:
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
    assert len(bases) >= 2
    assert set(bases) == {"python:3.11-slim"}


def test_the_image_runs_as_a_non_root_user_and_checks_its_health() -> None:
    instructions = dockerfile_instructions()
    final_stage = instructions[
        max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM") :
    ]
    final = dict(final_stage)
    assert final["USER"].split(":")[0] not in ("root", "0")
    assert "python" in final["HEALTHCHECK"]
    assert "/healthz" in final["HEALTHCHECK"]
    assert set(map(str, PORTS.values())) <= set(final["EXPOSE"].split())
    assert yaml.safe_load(final["CMD"]) == ["waymark", "serve", "gateway"]


def test_everything_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
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
# The manifests are what `kubectl kustomize` (the kubectl wheel's, offline) renders from the
# small site's overlay. Kubernetes' own kinds are validated against the API schemas of
# Kubernetes 1.37 (kubernetes-validate ships them); the operators' custom resources have no
# schema there, so their required fields are checked structurally below.

KUBERNETES_VERSION = "1.37.0"
OVERLAY = KUBERNETES / "overlays" / "small-site"
OPERATOR_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "Database"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("barmancloud.cnpg.io/v1", "ObjectStore"),
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("rabbitmq.com/v1beta1", "Vhost"),
    ("rabbitmq.com/v1beta1", "User"),
    ("rabbitmq.com/v1beta1", "Permission"),
}
NAMESPACE = "waymark"
INGRESS_NAMESPACE = "ingress-nginx"
MONITORING_NAMESPACE = "monitoring"
KUBERNETES_SETTINGS_NEEDED = {
    part: SETTINGS_NEEDED[part] - {"WAYMARK_POSTGRES_URL"}
    | {f"WAYMARK_{part.upper()}_DATABASE_URL"}
    for part in PARTS
}
KUBERNETES_SETTINGS_NEEDED["gateway"] |= {"WAYMARK_REDIS_URL"}
KUBERNETES_MIGRATE_SETTINGS_NEEDED = MIGRATE_SETTINGS_NEEDED - {"WAYMARK_POSTGRES_URL"} | {
    f"WAYMARK_{part.upper()}_DATABASE_URL" for part in PARTS
}


def kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = Path(sys.executable).parent / "kubectl"
    rendered = subprocess.run(
        [str(kubectl), "kustomize", str(folder)], capture_output=True, text=True, check=True
    )
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    documents = kustomize(OVERLAY)
    for document in documents:
        assert document["apiVersion"]
        assert document["kind"]
        assert document["metadata"]["name"]
    return documents


@pytest.fixture(scope="module")
def secret_templates() -> list[dict[str, Any]]:
    text = (KUBERNETES / "secret.yaml.example").read_text()
    return [document for document in yaml.safe_load_all(text) if document]


def of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {
        document["metadata"]["name"]: document for document in manifests if document["kind"] == kind
    }


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def container_settings(manifests: list[dict[str, Any]], container: dict[str, Any]) -> set[str]:
    config_maps = of_kind(manifests, "ConfigMap")
    names = {variable["name"] for variable in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(config_maps[source["configMapRef"]["name"]]["data"])
    return names


def assert_locked_down(workload: dict[str, Any]) -> None:
    pod = workload["spec"]["template"]["spec"]
    container = only_container(workload)
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert security["runAsNonRoot"] is True
    assert security.get("runAsUser", 1) != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_every_manifest_file_is_in_a_kustomization() -> None:
    listed = set()
    for kustomization in KUBERNETES.rglob("kustomization.yaml"):
        content = yaml.safe_load(kustomization.read_text())
        entries = [
            *content.get("resources", []),
            *(p["path"] for p in content.get("patches", []) if "path" in p),
        ]
        listed |= {(kustomization.parent / entry).resolve() for entry in entries}
    files = {
        path.resolve() for path in KUBERNETES.rglob("*.yaml") if path.name != "kustomization.yaml"
    }
    assert files <= listed, sorted(str(path) for path in files - listed)


def test_every_manifest_validates_against_the_kubernetes_api_schemas(
    manifests: list[dict[str, Any]], secret_templates: list[dict[str, Any]]
) -> None:
    custom = set()
    for document in [*manifests, *secret_templates]:
        kind = (document["apiVersion"], document["kind"])
        if kind in OPERATOR_KINDS:
            custom.add(kind)
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    assert custom == OPERATOR_KINDS


def test_the_schema_validation_rejects_a_mistyped_manifest(manifests: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(of_kind(manifests, "Deployment")["waymark-gateway"])
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    probe = copy.deepcopy(of_kind(manifests, "Deployment")["waymark-gateway"])
    only_container(probe)["startupProbe"]["periodSeconds"] = "often"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(probe, KUBERNETES_VERSION, strict=True)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(
            of_kind(manifests, "Cluster")["waymark-postgres"], KUBERNETES_VERSION
        )


@pytest.mark.integration
def test_the_base_renders_without_the_overlay_and_the_overlay_only_adds_the_site() -> None:
    base = {(d["kind"], d["metadata"]["name"]) for d in kustomize(KUBERNETES / "base")}
    backing = {(d["kind"], d["metadata"]["name"]) for d in kustomize(KUBERNETES / "backing")}
    overlay = {(d["kind"], d["metadata"]["name"]) for d in kustomize(OVERLAY)}
    assert overlay == base | backing | {("Namespace", NAMESPACE)}


def test_everything_is_in_the_sites_namespace_and_runs_the_sites_image(
    manifests: list[dict[str, Any]]
) -> None:
    for document in manifests:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == NAMESPACE, document["metadata"]["name"]
    workloads = [*of_kind(manifests, "Deployment").values(), *of_kind(manifests, "Job").values()]
    assert {only_container(workload)["image"] for workload in workloads} == {
        "registry.example.org/waymark:0.1.0"
    }


@pytest.mark.parametrize("part", PARTS)
def test_each_part_has_a_deployment_with_probes_and_a_service(
    manifests: list[dict[str, Any]], part: str
) -> None:
    deployment = of_kind(manifests, "Deployment")[f"waymark-{part}"]
    container = only_container(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert parse_waymark_command(container["args"]) == ("serve", part, PORTS[part])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": PORTS[part]}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    assert "initialDelaySeconds" not in container["livenessProbe"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert_locked_down(deployment)

    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = of_kind(manifests, "Service")[f"waymark-{part}"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "http", "port": PORTS[part], "targetPort": "http"}]


@pytest.mark.parametrize("part", PARTS)
def test_each_part_has_a_disruption_budget_that_keeps_a_replica(
    manifests: list[dict[str, Any]], part: str
) -> None:
    deployment = of_kind(manifests, "Deployment")[f"waymark-{part}"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    budgets = [
        budget
        for budget in of_kind(manifests, "PodDisruptionBudget").values()
        if budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ]
    assert len(budgets) == 1, part
    (budget,) = budgets
    # The budget selects this part's pods alone and lets one go while another keeps serving.
    assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == part
    replicas = deployment["spec"]["replicas"]
    allowed = budget["spec"].get("maxUnavailable", replicas - budget["spec"].get("minAvailable", 0))
    assert 1 <= allowed < replicas


def test_redis_runs_locked_down(manifests: list[dict[str, Any]]) -> None:
    assert_locked_down(of_kind(manifests, "StatefulSet")["waymark-redis"])


@pytest.mark.parametrize("part", PARTS)
def test_each_deployment_gets_the_settings_it_needs_from_the_config_map_and_secret(
    manifests: list[dict[str, Any]], part: str
) -> None:
    container = only_container(of_kind(manifests, "Deployment")[f"waymark-{part}"])
    settings = container_settings(manifests, container)
    needed = KUBERNETES_SETTINGS_NEEDED[part]
    assert needed <= settings, needed - settings
    for name in settings:
        assert_known_setting(name)
    port = next(
        variable["value"] for variable in container["env"] if variable["name"] == "WAYMARK_PORT"
    )
    assert int(port) == PORTS[part]


def test_secret_references_match_the_secret_templates(
    manifests: list[dict[str, Any]], secret_templates: list[dict[str, Any]]
) -> None:
    templates = {secret["metadata"]["name"]: secret for secret in secret_templates}
    workloads = [
        *of_kind(manifests, "Deployment").values(),
        *of_kind(manifests, "Job").values(),
        *of_kind(manifests, "StatefulSet").values(),
    ]
    for workload in workloads:
        for variable in only_container(workload).get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["key"] in templates[reference["name"]]["stringData"], reference


def test_the_gateway_reads_the_signing_key_from_the_secret(
    manifests: list[dict[str, Any]], secret_templates: list[dict[str, Any]]
) -> None:
    secret = next(s for s in secret_templates if s["metadata"]["name"] == "waymark-secrets")
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


def test_the_config_map_points_at_the_services(manifests: list[dict[str, Any]]) -> None:
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


def test_a_job_runs_the_migrations(manifests: list[dict[str, Any]]) -> None:
    (job,) = of_kind(manifests, "Job").values()
    container = only_container(job)
    assert parse_waymark_command(container["args"]) == ("migrate", None, None)
    assert container_settings(manifests, container) >= KUBERNETES_MIGRATE_SETTINGS_NEEDED
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert_locked_down(job)


def test_the_gateway_is_published_over_tls_by_an_ingress(manifests: list[dict[str, Any]]) -> None:
    (ingress,) = of_kind(manifests, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert rule["host"] == "waymark.redcross.example"
    assert tls["hosts"] == [rule["host"]]
    assert tls["secretName"]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"]["service"] == {"name": "waymark-gateway", "port": {"name": "http"}}
    body_limit = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body_limit == f"{GatewaySettings().import_body_limit_bytes // 2**20}m"


# --- Operators' resources: their required fields, checked by hand -------------------------------


def test_postgres_is_one_cloudnativepg_cluster_with_a_database_and_role_per_part(
    manifests: list[dict[str, Any]], secret_templates: list[dict[str, Any]]
) -> None:
    (cluster,) = of_kind(manifests, "Cluster").values()
    spec = cluster["spec"]
    assert spec["instances"] >= 2
    assert spec["storage"]["size"]
    owners = {spec["bootstrap"]["initdb"]["database"]: spec["bootstrap"]["initdb"]["owner"]}
    for database in of_kind(manifests, "Database").values():
        assert database["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
        owners[database["spec"]["name"]] = database["spec"]["owner"]
    assert owners == {f"waymark_{part}": f"waymark_{part}" for part in PARTS}
    roles = {role["name"]: role for role in spec["managed"]["roles"]}
    roles[spec["bootstrap"]["initdb"]["owner"]] = {
        "login": True,
        "passwordSecret": spec["bootstrap"]["initdb"]["secret"],
    }
    assert set(roles) == set(owners.values())
    for name, role in roles.items():
        assert role["login"] is True
        assert role.get("ensure", "present") == "present"
        assert role["passwordSecret"]["name"] == f"waymark-postgres-{name.removeprefix('waymark_')}"

    # Each part's URL in the Secret names its own database, as its own role, on the primary.
    (secret,) = [s for s in secret_templates if s["metadata"]["name"] == "waymark-secrets"]
    for part in PARTS:
        url = urlsplit(secret["stringData"][f"{part}-database-url"])
        assert url.scheme == "postgresql+asyncpg"
        assert url.path == f"/waymark_{part}"
        assert url.username == f"waymark_{part}"
        assert url.hostname == f"{cluster['metadata']['name']}-rw"
    basic_auth = [s for s in secret_templates if s["type"] == "kubernetes.io/basic-auth"]
    assert basic_auth
    assert all({"username", "password"} <= set(s["stringData"]) for s in basic_auth)


def test_postgres_is_backed_up_continuously_to_object_storage(
    manifests: list[dict[str, Any]]
) -> None:
    (cluster,) = of_kind(manifests, "Cluster").values()
    (plugin,) = cluster["spec"]["plugins"]
    assert plugin["name"] == "barman-cloud.cloudnative-pg.io"
    assert plugin["isWALArchiver"] is True
    store = of_kind(manifests, "ObjectStore")[plugin["parameters"]["barmanObjectName"]]
    configuration = store["spec"]["configuration"]
    assert urlsplit(configuration["destinationPath"]).scheme in ("s3", "gs", "https")
    credentials = configuration["s3Credentials"]
    assert credentials["accessKeyId"]["name"]
    assert credentials["secretAccessKey"]["key"]
    assert store["spec"]["retentionPolicy"].endswith("d")
    (schedule,) = of_kind(manifests, "ScheduledBackup").values()
    assert schedule["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert len(schedule["spec"]["schedule"].split()) == 6  # CloudNativePG's cron has seconds
    assert schedule["spec"]["method"] == "plugin"
    assert schedule["spec"]["pluginConfiguration"]["name"] == plugin["name"]


def test_rabbitmq_has_three_nodes_and_a_vhost_and_user_of_its_own(
    manifests: list[dict[str, Any]], secret_templates: list[dict[str, Any]]
) -> None:
    (cluster,) = of_kind(manifests, "RabbitmqCluster").values()
    name = cluster["metadata"]["name"]
    assert cluster["spec"]["replicas"] == 3  # a quorum queue survives one node down
    (vhost,) = of_kind(manifests, "Vhost").values()
    (user,) = of_kind(manifests, "User").values()
    (permission,) = of_kind(manifests, "Permission").values()
    for resource in (vhost, user, permission):
        assert resource["spec"]["rabbitmqClusterReference"]["name"] == name
    assert vhost["spec"]["defaultQueueType"] == "quorum"
    assert permission["spec"]["vhost"] == vhost["spec"]["name"]
    assert permission["spec"]["userReference"]["name"] == user["metadata"]["name"]
    settings = Settings()
    for pattern in permission["spec"]["permissions"].values():
        for declared in (
            settings.event_exchange,
            f"{settings.event_exchange}.dlx",
            f"{settings.queue_prefix}.referrals",
            f"{settings.queue_prefix}.referrals.dead",
        ):
            assert re.match(pattern, declared), (pattern, declared)
    (secret,) = [s for s in secret_templates if s["metadata"]["name"] == "waymark-secrets"]
    broker = urlsplit(secret["stringData"]["broker-url"])
    assert (broker.hostname, broker.port, broker.path) == (name, 5672, f"/{vhost['spec']['name']}")
    redis = urlsplit(secret["stringData"]["redis-url"])
    assert redis.scheme == "redis"
    assert redis.hostname in of_kind(manifests, "Service")


# --- Network policies, evaluated -----------------------------------------------------------------
# A small evaluator of NetworkPolicy semantics: a pod is isolated in a direction once a policy
# of that type selects it, and then only what some selecting policy's rule allows gets through.


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] in ("In", "NotIn"), "the evaluator knows In and NotIn"
        if (labels.get(expression["key"]) in expression["values"]) != (
            expression["operator"] == "In"
        ):
            return False
    return True


Endpoint = dict[str, Any]  # {"namespace": str, "labels": pod labels or None, "ip": address or None}


def pod(namespace: str, labels: dict[str, str]) -> Endpoint:
    return {"namespace": namespace, "labels": labels, "ip": None}


def address(ip: str) -> Endpoint:
    return {"namespace": None, "labels": None, "ip": ipaddress.ip_address(ip)}


def peer_matches(peer: dict[str, Any], endpoint: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if endpoint["ip"] is None:
            return False
        block = peer["ipBlock"]
        inside = endpoint["ip"] in ipaddress.ip_network(block["cidr"])
        excluded = any(endpoint["ip"] in ipaddress.ip_network(e) for e in block.get("except", []))
        return inside and not excluded
    if endpoint["labels"] is None:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": endpoint["namespace"]}
        if not matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif endpoint["namespace"] != policy_namespace:
        return False
    return "podSelector" not in peer or matches(peer["podSelector"], endpoint["labels"])


def allowed(
    manifests: list[dict[str, Any]], source: Endpoint, target: Endpoint, port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether the policies let `source` open `port` on `target` (both directions checked)."""

    def permits(
        subject: Endpoint, other: Endpoint, policy_type: str, rules: str, peers: str
    ) -> bool:
        if subject["labels"] is None:  # outside the cluster: no policy of ours applies
            return True
        selecting = [
            policy
            for policy in of_kind(manifests, "NetworkPolicy").values()
            if policy["metadata"]["namespace"] == subject["namespace"]
            and matches(policy["spec"]["podSelector"], subject["labels"])
            and policy_type in policy["spec"]["policyTypes"]
        ]
        if not selecting:
            return True
        return any(
            (
                not rule.get(peers)
                or any(peer_matches(p, other, policy["metadata"]["namespace"]) for p in rule[peers])
            )
            and (
                not rule.get("ports")
                or any(
                    entry["port"] == port and entry.get("protocol", "TCP") == protocol
                    for entry in rule["ports"]
                )
            )
            for policy in selecting
            for rule in policy["spec"].get(rules, [])
        )

    return permits(source, target, "Egress", "egress", "to") and permits(
        target, source, "Ingress", "ingress", "from"
    )


@pytest.fixture(scope="module")
def endpoints(manifests: list[dict[str, Any]]) -> dict[str, Endpoint]:
    def template_labels(workload: dict[str, Any]) -> dict[str, str]:
        labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
        return labels

    deployments = of_kind(manifests, "Deployment")
    (job,) = of_kind(manifests, "Job").values()
    redis = template_labels(of_kind(manifests, "StatefulSet")["waymark-redis"])
    (postgres,) = of_kind(manifests, "Cluster")
    (rabbitmq,) = of_kind(manifests, "RabbitmqCluster")
    return {
        **{part: pod(NAMESPACE, template_labels(deployments[f"waymark-{part}"])) for part in PARTS},
        "migrate": pod(NAMESPACE, template_labels(job)),
        "redis": pod(NAMESPACE, redis),
        # The labels the operators give their pods.
        "postgres": pod(
            NAMESPACE, {"cnpg.io/cluster": postgres, "cnpg.io/instanceRole": "primary"}
        ),
        "rabbitmq": pod(
            NAMESPACE,
            {"app.kubernetes.io/name": rabbitmq, "app.kubernetes.io/component": "rabbitmq"},
        ),
        "dns": pod("kube-system", {"k8s-app": "kube-dns"}),
        "ingress": pod(INGRESS_NAMESPACE, {"app.kubernetes.io/name": "ingress-nginx"}),
        "prometheus": pod(MONITORING_NAMESPACE, {"app.kubernetes.io/name": "prometheus"}),
        "stranger": pod("default", {"app": "curious"}),
        "neighbour": pod(NAMESPACE, {"app": "something-else"}),
        "public": address("93.184.215.14"),
        "public-v6": address("2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
    }


def test_every_waymark_pod_is_isolated_both_ways(
    manifests: list[dict[str, Any]], endpoints: dict[str, Endpoint]
) -> None:
    for name in (*PARTS, "migrate", "redis"):
        for policy_type in ("Ingress", "Egress"):
            assert any(
                matches(policy["spec"]["podSelector"], endpoints[name]["labels"])
                and policy_type in policy["spec"]["policyTypes"]
                for policy in of_kind(manifests, "NetworkPolicy").values()
            ), (name, policy_type)


def test_the_gateway_is_reached_through_the_ingress_controller_only(
    manifests: list[dict[str, Any]], endpoints: dict[str, Endpoint]
) -> None:
    gateway, port = endpoints["gateway"], PORTS["gateway"]
    assert allowed(manifests, endpoints["ingress"], gateway, port)
    assert allowed(manifests, endpoints["prometheus"], gateway, port)
    for service in SERVICE_NAMES:  # the JWKS
        assert allowed(manifests, endpoints[service], gateway, port)
    for outsider in ("stranger", "neighbour", "public", "migrate"):
        assert not allowed(manifests, endpoints[outsider], gateway, port), outsider
    assert not allowed(manifests, endpoints["ingress"], gateway, 9999)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_is_reached_from_the_gateway_and_monitoring_only(
    manifests: list[dict[str, Any]], endpoints: dict[str, Endpoint], service: str
) -> None:
    target, port = endpoints[service], PORTS[service]
    assert allowed(manifests, endpoints["gateway"], target, port)
    assert allowed(manifests, endpoints["prometheus"], target, port)
    others = [other for other in SERVICE_NAMES if other != service]
    for outsider in (*others, "ingress", "stranger", "neighbour", "public", "migrate", "redis"):
        assert not allowed(manifests, endpoints[outsider], target, port), outsider


@pytest.mark.parametrize("part", PARTS)
def test_each_part_sends_only_to_postgres_rabbitmq_dns_and_what_it_needs(
    manifests: list[dict[str, Any]], endpoints: dict[str, Endpoint], part: str
) -> None:
    source = endpoints[part]
    assert allowed(manifests, source, endpoints["postgres"], 5432)
    assert allowed(manifests, source, endpoints["rabbitmq"], 5672)
    assert allowed(manifests, source, endpoints["dns"], 53, "UDP")
    assert allowed(manifests, source, endpoints["redis"], 6379) == (part == "gateway")
    webhooks = part == "notifications"
    assert allowed(manifests, source, endpoints["public"], 443) == webhooks
    assert allowed(manifests, source, endpoints["public-v6"], 443) == webhooks
    for private in (
        "10.1.2.3",
        "172.20.0.5",
        "192.168.1.10",
        "169.254.169.254",
        "100.64.1.1",
        "127.0.0.1",
        "fd00::1",
        "fe80::1",
    ):
        assert not allowed(manifests, source, address(private), 443), private
    assert not allowed(manifests, source, endpoints["public"], 80)
    assert not allowed(manifests, source, endpoints["stranger"], 8080)
    assert not allowed(manifests, source, endpoints["postgres"], 22)


def test_the_migration_job_talks_to_postgres_and_dns_alone(
    manifests: list[dict[str, Any]], endpoints: dict[str, Endpoint]
) -> None:
    job = endpoints["migrate"]
    assert allowed(manifests, job, endpoints["postgres"], 5432)
    assert allowed(manifests, job, endpoints["dns"], 53, "UDP")
    assert not allowed(manifests, job, endpoints["rabbitmq"], 5672)
    assert not allowed(manifests, job, endpoints["public"], 443)


def test_redis_is_reached_by_the_gateway_alone(
    manifests: list[dict[str, Any]], endpoints: dict[str, Endpoint]
) -> None:
    assert allowed(manifests, endpoints["gateway"], endpoints["redis"], 6379)
    for outsider in (*SERVICE_NAMES, "neighbour", "stranger"):
        assert not allowed(manifests, endpoints[outsider], endpoints["redis"], 6379), outsider
