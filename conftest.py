"""Tests need real PostgreSQL, RabbitMQ and Redis: when either is missing the run fails; no
test is ever skipped. The unit tier (`-m unit`, `make test-unit`) selects only the tests whose
fixtures start no database, broker, network or process, so it does not ask for the servers; a
test in it fails if it connects to a server or starts a process, so none can hide there."""

import asyncio
import socket
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from waymark_kernel.db import STATEMENTS

REQUIRED = {"PostgreSQL": 5432, "RabbitMQ": 5672, "Redis": 6379}

# A test whose fixtures include one of these needs a server or a running network: not unit.
SERVER_FIXTURES = frozenset({
    "dialect", "database_url", "database", "postgres", "sqlite", "rabbit", "broker",
    "redis_url", "redis_prefix", "network", "standalone", "distributed", "distributed_with_redis",
    "start_gateway", "start_notifications", "registry", "any_registry", "serve", "serve_app",
    "app", "client", "browser", "webhook_receiver", "uvicorn_process", "process",
    "empty_database",
})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: needs no server (selected by `make test-unit`)")
    config.addinivalue_line(
        "markers", "integration: needs a server or starts processes though its fixtures do not say so"
    )
    # xdist's own, named here too for a run without xdist (-p no:xdist)
    config.addinivalue_line("markers", "xdist_group(name): run the group's tests on one worker")


# Tests sharing what their fixtures start (a network, a browser): under xdist, one worker runs
# all of a group and starts it once. A group is all of a folder's tests, or each module's.
ONE_WORKER_PER_FOLDER = (Path("gateway/tests/api"),)
ONE_WORKER_PER_MODULE = (Path("web/tests"),)

# A fixture giving one dialect's database: a test taking it names that dialect, as a test taking
# `dialect` does to run on one only (`pytest_generate_tests` below).
ONE_DIALECT_FIXTURES = {"postgres": "postgresql", "sqlite": "sqlite"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unnamed = [
        f"{item.nodeid} takes `{fixture}`: name it test_{dialect}_..."
        for item in items
        for fixture, dialect in ONE_DIALECT_FIXTURES.items()
        if fixture in getattr(item, "fixturenames", ())
        and not item.name.startswith(f"test_{dialect}_")
    ]
    if unnamed:
        raise pytest.UsageError(
            "a test on one database only says so in its name:\n" + "\n".join(unnamed)
        )
    for item in items:
        _group_sharing_tests(config.rootpath, item)
        needs_servers = item.get_closest_marker("integration") or SERVER_FIXTURES.intersection(
            getattr(item, "fixturenames", ())
        )
        if not needs_servers:
            item.add_marker(pytest.mark.unit)


def _group_sharing_tests(root: Path, item: pytest.Item) -> None:
    path = item.path.relative_to(root)
    for folder in ONE_WORKER_PER_FOLDER:
        if path.is_relative_to(folder):
            item.add_marker(pytest.mark.xdist_group(str(folder)))
    for folder in ONE_WORKER_PER_MODULE:
        if path.is_relative_to(folder):
            item.add_marker(pytest.mark.xdist_group(str(path)))


def _unit_tier(config: pytest.Config) -> bool:
    markexpr: str = config.option.markexpr
    return markexpr.strip() == "unit"


@pytest.fixture(autouse=True)
def _no_servers_in_the_unit_tier(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """In the unit tier a connection to PostgreSQL, RabbitMQ or Redis, or a new process, fails
    the test."""
    if not _unit_tier(request.config):
        yield
        return
    connect = socket.socket.connect

    def not_a_unit_test(what: str) -> None:
        pytest.fail(f"{request.node.nodeid} {what}: mark it `integration`", pytrace=False)

    def refuse_servers(sock: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[1] in REQUIRED.values():
            not_a_unit_test(f"connects to port {address[1]}")
        connect(sock, address)

    def refuse_processes(*args: object, **kwargs: object) -> None:
        not_a_unit_test("starts a process")

    monkeypatch.setattr(socket.socket, "connect", refuse_servers)
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_processes)
    monkeypatch.setattr(asyncio, "create_subprocess_exec", refuse_processes)
    yield


def pytest_sessionstart(session: pytest.Session) -> None:
    if _unit_tier(session.config):
        return
    missing = []
    for name, port in REQUIRED.items():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            missing.append(f"{name} on 127.0.0.1:{port}")
    if missing:
        pytest.exit(f"the tests need {' and '.join(missing)}; start it and run again", returncode=1)


DIALECTS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test on a database runs on each dialect (its id names it), unless its name says it is
    about one dialect's feature: `test_postgresql_...` or `test_sqlite_...`."""
    if "dialect" not in metafunc.fixturenames:
        return
    name = metafunc.function.__name__
    only = [dialect for dialect in DIALECTS if name.startswith(f"test_{dialect}_")]
    metafunc.parametrize("dialect", only or DIALECTS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def dialect(request: pytest.FixtureRequest) -> str:
    """The database the test runs on: "sqlite" or "postgresql"."""
    dialect: str = request.param
    return dialect


# place of a prepared statement → (the dialects it is for, those it ran on), from every process
STATEMENTS_RUN = pytest.StashKey[dict[str, tuple[set[str], set[str]]]]()


def _merge(
    config: pytest.Config, place: str, dialects: Iterable[str], ran_on: Iterable[str]
) -> None:
    merged = config.stash.setdefault(STATEMENTS_RUN, {}).setdefault(place, (set(), set()))
    merged[0].update(dialects)
    merged[1].update(ran_on)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After a whole passing run, every prepared statement must have run on each dialect it is
    for: a run that missed one fails and names it (xdist's workers report to the controller)."""
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:
        worker_output["statements"] = {
            place: (sorted(record.dialects), sorted(record.ran_on))
            for place, record in STATEMENTS.items()
        }
        return
    for place, record in STATEMENTS.items():
        _merge(session.config, place, record.dialects, record.ran_on)
    if exitstatus != pytest.ExitCode.OK or not _whole_suite(session.config):
        return
    missed = sorted(
        f"{place} never ran on {', '.join(sorted(dialects - ran_on))}"
        for place, (dialects, ran_on) in session.config.stash.get(STATEMENTS_RUN, {}).items()
        if dialects - ran_on
    )
    if missed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:  # reporting turned off: the exit status still says it
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        reporter.write_sep("=", "prepared statements not run on every dialect", red=True)
        for line in missed:
            reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class WorkerNode(Protocol):
    """What the hook below reads of xdist's controller of a worker (xdist is not typed)."""

    config: pytest.Config
    workeroutput: dict[str, Any]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: WorkerNode, error: object) -> None:
    """xdist's controller: which statements a worker ran, on which dialects."""
    for place, (dialects, ran_on) in node.workeroutput.get("statements", {}).items():
        _merge(node.config, place, dialects, ran_on)


def _whole_suite(config: pytest.Config) -> bool:
    """Every test of `testpaths` was selected and run (no paths given, no -k or -m)."""
    return (
        config.args_source is pytest.Config.ArgsSource.TESTPATHS
        and not config.option.keyword and not config.option.markexpr
        and not config.option.collectonly
    )
