"""One real standalone network (demo data, as `make run` starts it) for the tests that need
the pages to talk to the API."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Network, start, stop
from web.tests.support import Caseworker, enrol


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = start("run", tmp_path_factory.mktemp("network"), {"WAYMARK_SEED_DEMO": "true"})
    yield network
    stop(network)


@pytest.fixture
def caseworker(network: Network) -> Callable[..., Caseworker]:
    """A new person of a demo organisation: each signs in with a code of her own."""

    def new(organization: str, name: str, roles: tuple[str, ...] = ("caseworker",)) -> Caseworker:
        return enrol(network.base_url, Path(network.data_dir), organization, name, roles)
    return new
