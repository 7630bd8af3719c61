"""One real standalone network (demo data, as `make run` starts it) for the tests that need
the pages to talk to the API."""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Network, start, stop
from web.tests.support import Caseworker, enrol


@pytest.fixture(scope="session")
def seeded_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the demo network in it, seeded once per worker: seeding costs twice
    what starting does, and each module's network starts on a copy of it."""
    network = start("run", tmp_path_factory.mktemp("seeded"), {"WAYMARK_SEED_DEMO": "true"})
    stop(network)
    return network.data_dir


@pytest.fixture(scope="module")
def network(seeded_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """The demo network as `make run` leaves it, of this module's own."""
    folder = tmp_path_factory.mktemp("network")
    shutil.copytree(seeded_data, folder / "var")
    network = start("run", folder, {"WAYMARK_SEED_DEMO": "true"})
    yield network
    stop(network)


@pytest.fixture
def caseworker(network: Network) -> Callable[..., Caseworker]:
    """A new person of a demo organisation: each signs in with a code of her own."""

    def new(organization: str, name: str, roles: tuple[str, ...] = ("caseworker",)) -> Caseworker:
        return enrol(network.base_url, Path(network.data_dir), organization, name, roles)
    return new
