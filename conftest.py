"""Tests need real PostgreSQL, RabbitMQ and Redis: when either is missing the run fails, never skips."""

import socket

import pytest

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
