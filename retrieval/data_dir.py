"""The data folder as the operating system sees it: checks before use, and its write failures in words.

A raw `NotADirectoryError`, `OSError [Errno 30]` or `sqlite3.OperationalError: database or disk is
full` tells a user nothing about what to change. These become `DataDirError`s that name the folder
and the fix (issue 28). Only failures of writing the index are translated; anything else is left as
it is, so a bug is never disguised as a full disk.
"""

from __future__ import annotations

import errno
import re
import shutil
import sqlite3
from pathlib import Path

from retrieval.errors import DataDirError, DiskFullError

_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS,)
_FORBIDDEN = (errno.EACCES, errno.EPERM)
_NOT_A_FOLDER = (errno.ENOTDIR,)
_SHORT_WRITE = re.compile(r"^\d+ requested and \d+ written$")


def check_data_dir(data_dir: Path) -> None:
    """Raise `DataDirError` when `data_dir`, or a folder above it, exists but is not a folder."""
    for path in (data_dir, *data_dir.parents):
        if path.exists():
            if not path.is_dir():
                raise not_a_folder(data_dir, path)
            return


def not_a_folder(data_dir: Path, culprit: Path) -> DataDirError:
    where = "it" if culprit == data_dir else str(culprit)
    return DataDirError(
        f"the data folder {data_dir} cannot be used: {where} is a file, not a folder; "
        f"point NEWSBOT_DATA_DIR at a folder, or move the file away"
    )


def _free(data_dir: Path) -> str:
    for path in (data_dir, *data_dir.parents):
        try:
            return f"{shutil.disk_usage(path).free / 1e6:,.1f} MB free"
        except OSError:
            continue
    return "free space unknown"


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, SQLite's "database or disk is full", FAISS's failed write, numpy's
    short write ("2304 requested and 2016 written": `ndarray.tofile` reports ENOSPC without an errno)."""
    if isinstance(error, OSError) and error.errno in _FULL:
        return True
    if isinstance(error, OSError) and error.errno is None and _SHORT_WRITE.search(str(error)):
        return True
    if isinstance(error, sqlite3.OperationalError) and "full" in str(error).lower():
        return True
    return isinstance(error, RuntimeError) and "No space left" in str(error)


def storage_error(error: BaseException, data_dir: Path) -> DataDirError | None:
    """The `DataDirError` that says what `error` (raised while writing under `data_dir`) means, or None
    when it is not a failure of the data folder."""
    if is_disk_full(error):
        return DiskFullError(
            f"the disk holding the data folder {data_dir} is full ({_free(data_dir)}): free some space or "
            f"point NEWSBOT_DATA_DIR at a larger disk, then run `newsbot index` again; the previous index "
            f"is unchanged and still answers, and the unfinished one was removed"
        )
    if not isinstance(error, OSError):
        return None
    culprit = Path(error.filename) if error.filename else data_dir
    if error.errno in _READ_ONLY:
        return DataDirError(
            f"the data folder {data_dir} is on a read-only file system; point NEWSBOT_DATA_DIR at a writable "
            f"folder (or mount it read-write) and run the command again"
        )
    if error.errno in _FORBIDDEN:
        return DataDirError(
            f"no permission to write {culprit} in the data folder {data_dir}; give this user write access "
            f"or point NEWSBOT_DATA_DIR at a folder it may write"
        )
    if error.errno in _NOT_A_FOLDER or isinstance(error, (NotADirectoryError, FileExistsError)):
        check_data_dir(data_dir)  # names the file that stands where a folder should be
        return not_a_folder(data_dir, culprit)
    return None
