"""Tests that the unit tier must run, and refuse: run only by test_tiers.py (the name keeps
them out of the suite)."""

import socket
import subprocess


def test_pure_logic() -> None:
    assert sorted([3, 1, 2]) == [1, 2, 3]


def test_reaching_postgresql() -> None:
    socket.create_connection(("127.0.0.1", 5432), timeout=2).close()


def test_starting_a_process() -> None:
    subprocess.run(["true"], check=True)
