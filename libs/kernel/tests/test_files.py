"""Standalone mode's data folder: only the user running Waymark may read its databases and keys."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from waymark_kernel.db import Database
from waymark_kernel.files import make_data_folder_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """Files are created as on most systems (0644, folders 0755) unless the code says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def test_finding_9_a_new_sqlite_database_and_its_journals_are_the_owners_only(
    tmp_path: Path, usual_umask: None
) -> None:
    data = tmp_path / "var"
    database = Database(f"sqlite+aiosqlite:///{data / 'gateway.db'}")
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE secrets (hash TEXT)"))
            await session.execute(text("INSERT INTO secrets VALUES ('argon2id')"))
        files = {path.name: mode(path) for path in data.iterdir()}
    finally:
        await database.dispose()

    assert mode(data) == 0o700
    assert files == {"gateway.db": 0o600, "gateway.db-wal": 0o600, "gateway.db-shm": 0o600}


def test_finding_9_files_an_earlier_version_left_readable_are_tightened_on_start(
    tmp_path: Path, usual_umask: None
) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    for name in ("gateway.db", "gateway.db-wal", "encryption.key", "demo-credentials.json"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    (data / "exports").mkdir(mode=0o775)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (data / "elsewhere").symlink_to(shared)

    make_data_folder_private(data)

    assert mode(data) == 0o700
    assert {path.name: mode(path) for path in data.iterdir() if not path.is_symlink()} == {
        "gateway.db": 0o600, "gateway.db-wal": 0o600, "encryption.key": 0o600,
        "demo-credentials.json": 0o600, "exports": 0o700,
    }
    assert mode(shared) == 0o755  # a link's target is not Waymark's to change
