"""What the command's tests share."""

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.support import clean_up


@pytest.fixture
def network_names() -> Iterator[tuple[str, str, str]]:
    """A distributed network's own databases' prefix, event exchange and queue prefix, removed
    after the test."""
    unique = uuid.uuid4().hex[:10]
    names = (f"stop_{unique}", f"stop.{unique}.events", f"stop.{unique}")
    yield names
    asyncio.run(clean_up(*names))
