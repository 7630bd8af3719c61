"""The unit tier (`make test-unit`) runs what needs no server and fails a test that reaches
PostgreSQL, RabbitMQ or Redis or starts a process, even while those servers are up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # runs pytest in a process

ROOT = Path(__file__).parents[2]
PROBE = Path(__file__).with_name("tiers_probe.py")


def test_the_unit_tier_runs_pure_tests_and_fails_those_reaching_a_server_or_a_process() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "unit", "-q", "-p", "no:xdist",
         "-p", "no:randomly", str(PROBE)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"},
    )

    assert run.returncode == 1, run.stdout
    assert "2 failed, 1 passed" in run.stdout, run.stdout
    assert "test_reaching_postgresql connects to port 5432: mark it `integration`" in run.stdout
    assert "test_starting_a_process starts a process: mark it `integration`" in run.stdout
