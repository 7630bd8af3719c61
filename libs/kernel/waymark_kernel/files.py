"""Files only the user running Waymark may read: the data folder, its databases, keys and
credentials (`gateway.db` holds the client secrets' hashes)."""

import os
import stat
from pathlib import Path

OWNER_ONLY_FOLDER, OWNER_ONLY_FILE = 0o700, 0o600


def create_private_folder(path: Path) -> None:
    """`path` created for its owner only when missing; a folder already there is left as it is
    (it may be a shared one, such as /tmp)."""
    path.mkdir(mode=OWNER_ONLY_FOLDER, parents=True, exist_ok=True)


def create_private_file(path: Path) -> None:
    """`path` created empty for its owner only when missing, and tightened when it exists."""
    create_private_folder(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, OWNER_ONLY_FILE))
    tighten(path, OWNER_ONLY_FILE)


def tighten(path: Path, allowed: int) -> None:
    """Takes away every permission of `path` beyond `allowed` (nothing when it is missing)."""
    try:
        mode = stat.S_IMODE(path.lstat().st_mode)
    except FileNotFoundError:
        return
    if mode & ~allowed and not path.is_symlink():
        path.chmod(mode & allowed)


def make_data_folder_private(folder: Path) -> None:
    """The data folder and every file in it for the owner only, including files an earlier
    version left readable by others."""
    create_private_folder(folder)
    tighten(folder, OWNER_ONLY_FOLDER)
    for entry in folder.iterdir():
        tighten(entry, OWNER_ONLY_FOLDER if entry.is_dir() else OWNER_ONLY_FILE)
