"""`waymark backup DIR --keys KEYS` and `waymark restore DIR --keys KEYS`.

DIR receives every part's database (SQLite's online backup in standalone mode, `pg_dump` in
custom format in distributed mode) and a manifest; KEYS receives the keys that open and sign
them. Together they hand every person's data to whoever holds them: keep them apart."""

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, make_url

from waymark_cli.parts import PARTS, local_encryption_key_file
from waymark_gateway.identity.keys import signing_key_path
from waymark_kernel.db import Database, is_sqlite, table_of
from waymark_kernel.messaging.outbox import OutboxMessage
from waymark_kernel.migrations import ensure_database
from waymark_kernel.settings import Settings
from waymark_referrals.crypto import key_id_of

MANIFEST = "waymark-backup.json"
KEYS_MANIFEST = "waymark-keys.json"
ENCRYPTION_KEY = "encryption.key"
PREVIOUS_ENCRYPTION_KEYS = "encryption-previous.keys"
SIGNING_KEY = "gateway-signing-key.pem"
# Events the relay had published this long before a part's dump are published again after a
# restore: a consumer may not have applied them in its own (later) dump, and skips them if it did.
DEFAULT_REPUBLISH_WINDOW_SECONDS = 900.0


class BackupError(Exception):
    """Something the operator must put right; reported without a traceback."""


@dataclass(frozen=True)
class Keys:
    encryption_key: str
    previous_encryption_keys: tuple[str, ...]
    signing_key_pem: bytes

    @property
    def key_ids(self) -> list[str]:
        return [
            key_id_of(base64.b64decode(key))
            for key in (self.encryption_key, *self.previous_encryption_keys)
        ]


def add_commands(verbs: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    backup = verbs.add_parser(
        "backup", help="copy every part's database to DIR and the keys to the folder --keys"
    )
    backup.add_argument("directory", type=Path, metavar="DIR")
    backup.add_argument(
        "--keys",
        type=Path,
        required=True,
        metavar="KEYS",
        help="a folder for the keys, kept apart from DIR",
    )
    restore = verbs.add_parser(
        "restore", help="restore a backup into empty databases, with its keys"
    )
    restore.add_argument("directory", type=Path, metavar="DIR")
    restore.add_argument("--keys", type=Path, required=True, metavar="KEYS")
    restore.add_argument(
        "--republish-window",
        type=float,
        default=DEFAULT_REPUBLISH_WINDOW_SECONDS,
        metavar="SECONDS",
        help="events published this long before a part's dump are published "
        f"again; consumers skip those they applied (default {DEFAULT_REPUBLISH_WINDOW_SECONDS:g})",
    )


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    """The process's exit status: 0 when done."""
    try:
        if arguments.verb == "backup":
            await backup(settings, arguments.directory, arguments.keys)
        else:
            await restore(settings, arguments.directory, arguments.keys, arguments.republish_window)
    except BackupError as problem:
        print(f"waymark {arguments.verb}: {problem}", flush=True)
        return 1
    return 0


# --- backup -------------------------------------------------------------------------------------


async def backup(settings: Settings, directory: Path, keys_directory: Path) -> None:
    _refuse_keys_beside_data(directory, keys_directory)
    keys = _configured_keys(settings)
    for folder in (directory, keys_directory):
        if folder.exists() and any(folder.iterdir()):
            raise BackupError(f"{folder} is not empty")
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    parts = {}
    # Producers before consumers: an event a consumer's dump lacks is then one its producer's
    # dump has, unpublished or within the republish window.
    for part in PARTS:
        url = settings.database_url(part)
        dumped_at = datetime.now(UTC)
        file_name = await _dump(url, directory, part)
        parts[part] = {
            "file": file_name,
            "revision": await _revision(url),
            "dumped_at": dumped_at.isoformat(),
        }
        print(f"backed up {part} ({file_name})", flush=True)
    (directory / MANIFEST).write_bytes(
        _json(
            {
                "format": 1,
                "mode": settings.mode.value,
                "created_at": datetime.now(UTC).isoformat(),
                "encryption_key_id": keys.key_ids[0],
                "parts": parts,
            }
        )
    )
    _write_keys(keys_directory, keys)
    print(f"keys written to {keys_directory}: store them apart from {directory}", flush=True)


def _refuse_keys_beside_data(directory: Path, keys_directory: Path) -> None:
    data, keys = directory.resolve(), keys_directory.resolve()
    if data == keys or data in keys.parents or keys in data.parents:
        raise BackupError(
            "the keys' folder must be outside the backup's folder, and it outside them"
        )


def _configured_keys(settings: Settings) -> Keys:
    encryption_key = settings.encryption_key
    if not encryption_key and local_encryption_key_file(settings).exists():
        encryption_key = local_encryption_key_file(settings).read_text().strip()
    if not encryption_key:
        raise BackupError("no encryption key: set WAYMARK_ENCRYPTION_KEY (or WAYMARK_DATA_DIR)")
    signing_key = signing_key_path(settings)
    if not signing_key.exists():
        raise BackupError(f"no signing key at {signing_key}: set WAYMARK_SIGNING_KEY_FILE")
    return Keys(encryption_key, tuple(settings.encryption_previous_keys), signing_key.read_bytes())


async def _dump(url: str, directory: Path, part: str) -> str:
    if is_sqlite(url):
        file_name = f"{part}.db"
        source = _sqlite_path(url)
        if not source.exists():
            raise BackupError(f"{part}'s database {source} does not exist")
        await asyncio.to_thread(_copy_sqlite, source, directory / file_name)
        return file_name
    file_name = f"{part}.dump"
    await _pg_tool("pg_dump", url, "--format=custom", f"--file={directory / file_name}")
    return file_name


async def _revision(url: str) -> str | None:
    database = Database(url)
    try:
        async with database.transaction() as session:
            return (
                await session.execute(sa.text("SELECT version_num FROM alembic_version"))
            ).scalar()
    finally:
        await database.dispose()


def _write_keys(keys_directory: Path, keys: Keys) -> None:
    keys_directory.chmod(0o700)
    _write_private(keys_directory / ENCRYPTION_KEY, keys.encryption_key.encode() + b"\n")
    if keys.previous_encryption_keys:
        _write_private(
            keys_directory / PREVIOUS_ENCRYPTION_KEYS,
            "".join(f"{key}\n" for key in keys.previous_encryption_keys).encode(),
        )
    _write_private(keys_directory / SIGNING_KEY, keys.signing_key_pem)
    _write_private(
        keys_directory / KEYS_MANIFEST,
        _json(
            {
                "format": 1,
                "created_at": datetime.now(UTC).isoformat(),
                "encryption_key_ids": keys.key_ids,
            }
        ),
    )


# --- restore ------------------------------------------------------------------------------------


async def restore(
    settings: Settings, directory: Path, keys_directory: Path, republish_window: float
) -> None:
    manifest = _read_json(directory / MANIFEST)
    keys = _read_keys(keys_directory)
    if manifest["encryption_key_id"] not in keys.key_ids:
        raise BackupError(
            f"the keys in {keys_directory} do not open this backup (sealed under key "
            f"{manifest['encryption_key_id']}, the folder has {', '.join(keys.key_ids)})"
        )
    targets = {part: settings.database_url(part) for part in manifest["parts"]}
    for part, url in targets.items():  # everything is checked before anything is written
        backed_up_as_sqlite = manifest["parts"][part]["file"].endswith(".db")
        if backed_up_as_sqlite != is_sqlite(url):
            raise BackupError(
                f"{part} was backed up in {manifest['mode']} mode; restore it in that mode"
            )
        await _refuse_a_database_in_use(part, url)
    _install_keys(settings, keys)
    for part, url in targets.items():
        entry = manifest["parts"][part]
        await _load(url, directory / entry["file"])
        since = datetime.fromisoformat(entry["dumped_at"]) - timedelta(seconds=republish_window)
        republished = await _republish_since(url, since)
        print(
            f"restored {part} at revision {entry['revision']}"
            + (f"; {republished} recent events will be published again" if republished else ""),
            flush=True,
        )
    if keys.previous_encryption_keys and not settings.encryption_previous_keys:
        print(
            f"records sealed under earlier keys need WAYMARK_ENCRYPTION_PREVIOUS_KEYS: take them "
            f"from {keys_directory / PREVIOUS_ENCRYPTION_KEYS}",
            flush=True,
        )
    print("restored; run `waymark migrate` if this release is newer than the backup's", flush=True)


def _read_keys(keys_directory: Path) -> Keys:
    if not (keys_directory / ENCRYPTION_KEY).exists():
        raise BackupError(f"{keys_directory} holds no {ENCRYPTION_KEY}")
    previous = keys_directory / PREVIOUS_ENCRYPTION_KEYS
    return Keys(
        (keys_directory / ENCRYPTION_KEY).read_text().strip(),
        tuple(previous.read_text().split()) if previous.exists() else (),
        (keys_directory / SIGNING_KEY).read_bytes(),
    )


async def _refuse_a_database_in_use(part: str, url: str) -> None:
    if is_sqlite(url):
        if _sqlite_path(url).exists():
            raise BackupError(
                f"{part}'s database {_sqlite_path(url)} exists: restore into a fresh data folder"
            )
        return
    await ensure_database(url)
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    finally:
        await database.dispose()
    if tables:
        raise BackupError(
            f"{part}'s database {make_url(url).database} is not empty: restore into a new one"
        )


def _install_keys(settings: Settings, keys: Keys) -> None:
    """Put the keys where the parts read them, or check that the configured ones are these."""
    if settings.encryption_key:
        if settings.encryption_key != keys.encryption_key:
            raise BackupError(
                "WAYMARK_ENCRYPTION_KEY is not the backup's key: configure the "
                f"one in the keys' folder's {ENCRYPTION_KEY}"
            )
    else:
        _place_file(local_encryption_key_file(settings), keys.encryption_key.encode())
    _place_file(signing_key_path(settings), keys.signing_key_pem)


def _place_file(path: Path, content: bytes) -> None:
    if path.exists():
        if path.read_bytes().strip() != content.strip():
            raise BackupError(f"{path} exists and holds another key")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, content)


async def _load(url: str, file: Path) -> None:
    if is_sqlite(url):
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_copy_sqlite, file, target)
        return
    # Objects belong to the restoring role: a site's roles need not be the backed-up site's.
    await _pg_tool(
        "pg_restore",
        url,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        str(file),
    )


async def _republish_since(url: str, since: datetime) -> int:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            has_outbox = await connection.run_sync(
                lambda sync: sa.inspect(sync).has_table("outbox")
            )
        if not has_outbox:
            return 0
        outbox = table_of(OutboxMessage)
        async with database.transaction() as session:
            result = await session.execute(
                sa.update(outbox).where(outbox.c.published_at >= since).values(published_at=None)
            )
            return cast(CursorResult[Any], result).rowcount  # an UPDATE answers with a cursor
    finally:
        await database.dispose()


# --- files and tools ----------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if database is None:
        raise ValueError(f"{url} names no SQLite file")
    return Path(database)


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the network keeps writing."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as origin,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        origin.backup(copy)


async def _pg_tool(tool: str, url: str, *arguments: str) -> None:
    """pg_dump or pg_restore on the database of `url`; the password travels in the environment."""
    parsed = make_url(url)
    environment = dict(os.environ)
    if parsed.password:
        environment["PGPASSWORD"] = parsed.password
    target = parsed.set(drivername="postgresql", password=None, query={})
    process = await asyncio.create_subprocess_exec(
        tool,
        f"--dbname={target.render_as_string(hide_password=False)}",
        *arguments,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{tool} failed on {parsed.database}: {errors.decode().strip()}")


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


def _json(content: dict[str, Any]) -> bytes:
    return (json.dumps(content, indent=2) + "\n").encode()


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise BackupError(f"{path.parent} holds no backup ({path.name} is missing)")
    content: dict[str, Any] = json.loads(path.read_text())
    return content
