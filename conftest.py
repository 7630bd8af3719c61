"""Tests need real PostgreSQL, RabbitMQ and Redis: when either is missing the run fails, never skips."""

import socket

import pytest
from waymark_kernel.db import STATEMENTS

REQUIRED = {"PostgreSQL": 5432, "RabbitMQ": 5672, "Redis": 6379}


def pytest_sessionstart(session: pytest.Session) -> None:
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
    return request.param


# place of a prepared statement → (the dialects it is for, those it ran on), from every process
STATEMENTS_RUN = pytest.StashKey[dict[str, tuple[set[str], set[str]]]]()


def _merge(config: pytest.Config, place: str, dialects, ran_on) -> None:
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
        reporter.write_sep("=", "prepared statements not run on every dialect", red=True)
        for line in missed:
            reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
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
