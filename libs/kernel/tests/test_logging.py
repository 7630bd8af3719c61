import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from waymark_kernel.db import Database
from waymark_kernel.logging import LogFormat, configure_logging, request_id_var
from waymark_kernel.settings import Settings

log = logging.getLogger("waymark.test")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def logged(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


@pytest.mark.parametrize(("log_format", "stream", "json_lines"), [
    (LogFormat.auto, io.StringIO(), True),
    (LogFormat.auto, Terminal(), False),
    (LogFormat.text, io.StringIO(), False),
    (LogFormat.json, Terminal(), True),
])
def test_a_terminal_reads_one_line_a_record_and_a_machine_json(
    log_format: LogFormat, stream: io.StringIO, json_lines: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    configure_logging("INFO", log_format, stream)
    token = request_id_var.set("req-42")
    try:
        log.warning("publish not confirmed; will retry", extra={"event_id": "e-1"})
    finally:
        request_id_var.reset(token)

    [line] = logged(stream)
    if json_lines:
        assert json.loads(line) | {"time": None} == {
            "time": None, "level": "warning", "logger": "waymark.test",
            "message": "publish not confirmed; will retry", "request_id": "req-42",
            "event_id": "e-1",
        }
    else:
        assert line.endswith(
            " WARNING waymark.test  publish not confirmed; will retry  event_id=e-1 request_id=req-42"
        )


def test_colour_only_at_a_terminal_that_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = Terminal()
    configure_logging("INFO", LogFormat.auto, terminal)
    log.error("broken")
    assert "\x1b[31mERROR" in terminal.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    plain = Terminal()
    configure_logging("INFO", LogFormat.auto, plain)
    log.error("broken")
    assert "\x1b[" not in plain.getvalue()


def test_the_setting_chooses_the_format(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().log_format is LogFormat.auto
    monkeypatch.setenv("WAYMARK_LOG_FORMAT", "json")
    assert Settings().log_format is LogFormat.json
    monkeypatch.setenv("WAYMARK_LOG_FORMAT", "yaml")
    with pytest.raises(ValidationError):
        Settings()


def test_migrations_and_the_demo_requests_are_debug_noise() -> None:
    quiet, verbose = io.StringIO(), io.StringIO()
    for stream, level in ((quiet, "INFO"), (verbose, "DEBUG")):
        configure_logging(level, LogFormat.json, stream)
        logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")
        logging.getLogger("httpx").info('HTTP Request: POST /v1/organizations "201 Created"')
        logging.getLogger("alembic.runtime.migration").warning("a real warning")
        log.info("the network's own news")

    assert [json.loads(line)["message"] for line in logged(quiet)] == [
        "a real warning", "the network's own news",
    ]
    assert [json.loads(line)["level"] for line in logged(verbose)] == [
        "debug", "debug", "warning", "info",
    ]


@pytest.mark.parametrize("log_format", [LogFormat.text, LogFormat.json])
def test_no_secret_appears_in_a_record(log_format: LogFormat) -> None:
    stream = io.StringIO()
    configure_logging("INFO", log_format, stream)
    log.info("token issued", extra={
        "client_secret": "cs-very-secret", "Authorization": "Bearer eyJhbGciOi.payload.sig",
    })
    log.warning("calling back with Bearer eyJhbGciOi.payload.sig and whsec_c2VjcmV0c2VjcmV0")
    log.warning("form sent: grant_type=client_credentials&client_secret=cs-very-secret")

    text = stream.getvalue()
    for secret in ("cs-very-secret", "eyJhbGciOi", "c2VjcmV0c2VjcmV0"):
        assert secret not in text
    assert text.count("[redacted]") >= 5


@pytest.mark.parametrize("log_format", [LogFormat.text, LogFormat.json])
async def test_what_a_database_error_quotes_of_the_data_stays_out(
    log_format: LogFormat, database: Database
) -> None:
    email, table = f"amina.{uuid.uuid4().hex[:6]}@example.org", f"people_{uuid.uuid4().hex[:8]}"
    async with database.engine.begin() as connection:
        await connection.execute(sa.text(f"CREATE TABLE {table} (email TEXT UNIQUE)"))
        await connection.execute(sa.text(f"INSERT INTO {table} VALUES (:email)"), {"email": email})
    stream = io.StringIO()
    configure_logging("INFO", log_format, stream)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(
                sa.text(f"INSERT INTO {table} VALUES (:email)"), {"email": email}
            )
    except IntegrityError as error:
        assert email in str(error)  # noqa: PT017 -- what the log would have shown
        log.exception("adding a person failed")
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(sa.text(f"DROP TABLE {table}"))

    text = stream.getvalue()
    assert "unique" in text.lower()
    assert email not in text
