"""One real standalone network (demo data, as `make run` starts it) for the tests that need
the pages to talk to the API."""

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Network, start, stop
from web.tests.support import Caseworker, enrol


@pytest.fixture(scope="session")
def seeded_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the demo network in it, seeded once per run (the first worker to ask
    seeds it, the others wait on a lock): seeding costs twice what starting does, and each
    module's network starts on a copy of it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    folder, done = root / "seeded", root / "seeded.done"
    with (root / "seeded.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
            folder.mkdir()
            stop(start("run", folder, {"WAYMARK_SEED_DEMO": "true"}))
            done.touch()
    return folder / "var"


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
