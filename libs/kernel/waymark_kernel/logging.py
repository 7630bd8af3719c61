"""Logs: one concise line a record for a person at a terminal, one JSON object a line for
machines (WAYMARK_LOG_FORMAT), each carrying the request id of the request being served, and
never a secret or what a database error quotes of the data."""

import contextvars
import logging
import os
import re
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_STANDARD_ATTRIBUTES = set(logging.makeLogRecord({}).__dict__) | {
    "message", "asctime", "color_message",  # uvicorn's copy of the message with colour codes
}
# What start-up says at length and the banner sums up: each migration, each request of the
# demo data, the HTTP server's own start and stop lines.
START_UP_NOISE = ("alembic", "httpx", "uvicorn.error")
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"secret|password|token|authorization|cookie|api_key|credential", re.IGNORECASE)
_SECRET_TEXT = [
    # SQLAlchemy quotes a failed statement's parameters; PostgreSQL a violated key's values.
    (re.compile(r"\[parameters: .*?\](?=\n|$)", re.DOTALL), "[parameters: " + REDACTED + "]"),
    (re.compile(r"(DETAIL:\s+Key \(.*?\)=)\(.*?\)(?= already exists| is not present|\.)"),
     r"\1(" + REDACTED + ")"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_" + REDACTED),
    (re.compile(r"((?:client_secret|password|secret|token)=)[^\s&]+", re.IGNORECASE), r"\1" + REDACTED),
]


class LogFormat(StrEnum):
    auto = "auto"  # text at a terminal, JSON otherwise
    text = "text"
    json = "json"


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: REDACTED if _SECRET_KEY.search(key) else value
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return redact(orjson.dumps(entry, default=str).decode())


class TextFormatter(logging.Formatter):
    """`12:04:05 WARNING waymark.outbox  publish not confirmed; will retry  event_id=…`"""

    _COLOURS = {
        logging.DEBUG: "\x1b[2m", logging.INFO: "\x1b[32m", logging.WARNING: "\x1b[33m",
        logging.ERROR: "\x1b[31m", logging.CRITICAL: "\x1b[1;31m",
    }
    _RESET = "\x1b[0m"

    def __init__(self, *, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created, UTC).astimezone().strftime("%H:%M:%S")
        level = f"{record.levelname:<7}"
        if self.colour:
            level = self._COLOURS.get(record.levelno, "") + level + self._RESET
        fields = _extras(record)
        request_id = request_id_var.get()
        if request_id:
            fields["request_id"] = request_id
        line = f"{time} {level} {record.name}  {record.getMessage()}"
        if fields:
            line += "  " + " ".join(f"{key}={value}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class _StartUpNoiseAtDebug(logging.Filter):
    """Demotes the start-up noise's information to debug, then applies the chosen level."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.name.startswith(START_UP_NOISE):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


def wants_text(log_format: LogFormat, stream: TextIO) -> bool:
    if log_format is LogFormat.auto:
        return stream.isatty()
    return log_format is LogFormat.text


def configure_logging(
    level: str = "INFO", log_format: LogFormat = LogFormat.auto, stream: TextIO | None = None
) -> None:
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if wants_text(LogFormat(log_format), stream):
        colour = stream.isatty() and "NO_COLOR" not in os.environ
        handler.setFormatter(TextFormatter(colour=colour))
    else:
        handler.setFormatter(JsonFormatter())
    threshold = logging.getLevelName(level.upper())
    handler.addFilter(_StartUpNoiseAtDebug(threshold))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # The loggers create every record; the handler's filter decides, after demoting the noise.
    root.setLevel(min(threshold, logging.INFO))
    for noisy in ("uvicorn.access", "aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
