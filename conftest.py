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
