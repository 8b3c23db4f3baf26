"""File input and output: atomic writes, ROOT TTrees with uproot, parquet tables, JSON.

Every writer goes through :func:`atomic_path`: the data land under a temporary name in the
target's directory and are renamed into place only when complete, so a killed job never
leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas and uproot are imported where used: most jobs need neither
    import pandas as pd

TREE_NAME = "events"


def __getattr__(name: str) -> Any:
    """``COMPRESSION``, the codec of every tree written, made on first use (it needs uproot):
    ZSTD level 1 writes the toy's columns about 9 times faster than uproot's default ZLIB
    level 1 (5.3M against 0.58M events/s here), reads them twice as fast and is slightly
    smaller (LZ4 writes faster still but 13% larger); ROOT reads it from 6.20 on.
    ``benchmarks/ntuple_io.py`` measures all three (and may set another)."""
    if name == "COMPRESSION":
        import uproot

        globals()[name] = codec = uproot.ZSTD(1)
        return codec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def current_umask() -> int:
    """The process's umask, read without changing it (Linux ``/proc``; elsewhere set and
    restored at once). mkstemp creates files readable by their owner only; results get the
    permissions of a plainly created file."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary file keeps the target's suffix (some writers dispatch on it) and is
    removed if the block raises; the result gets the permissions of a plainly created file
    (0666 less the umask), so a group sharing the results can read them.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
    except OSError as error:
        raise _unwritable(target, error) from error
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            tmp.chmod(0o666 & ~current_umask())
        os.replace(tmp, target)
    except OSError as error:
        if error.errno in _STORAGE_ERRORS:
            raise _unwritable(target, error) from error
        raise
    finally:
        tmp.unlink(missing_ok=True)


#: Errors of the file system rather than of the data: a full disk or quota, a read-only or
#: forbidden directory.
_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _unwritable(target: Path, error: OSError) -> OSError:
    """The error of a result that cannot be written, naming the file (the system's own
    message for a write names none) and what to do."""
    return OSError(
        error.errno,
        f"cannot write {target}: {error.strerror or error}; free space on its file system or "
        f"make {target.parent} writable, then run again (nothing half-written was kept)",
    )


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    """Turn NumPy scalars and arrays into plain Python for JSON."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def write_root_tree(
    path: str | os.PathLike[str],
    chunks: Iterable[Mapping[str, np.ndarray]],
    branch_types: Mapping[str, np.dtype | type],
    title: str = "",
) -> int:
    """Write chunks of columns into a ROOT TTree ``events``, atomically; return the entries.

    uproot 5.7 writes an RNTuple when a dict is assigned to a file key, so the tree is made
    explicitly with ``mktree`` and filled chunk by chunk with ``extend`` (one basket per
    chunk, bounded memory), compressed with :data:`COMPRESSION`.
    """
    import uproot

    codec = globals().get("COMPRESSION") or __getattr__("COMPRESSION")
    entries = 0
    with atomic_path(path) as tmp, uproot.recreate(tmp, compression=codec) as file:
        tree = file.mktree(TREE_NAME, dict(branch_types), title=title)
        for chunk in chunks:
            missing = set(branch_types) - set(chunk)
            if missing:
                raise KeyError(f"chunk lacks branch(es) {sorted(missing)}")
            tree.extend({name: np.asarray(chunk[name]) for name in branch_types})
            entries += len(next(iter(chunk.values())))
    return entries


def read_root_tree(
    path: str | os.PathLike[str], branches: Iterable[str] | None = None, tree: str = TREE_NAME
) -> pd.DataFrame:
    """Read branches of a flat TTree into a DataFrame; errors name the file and the tree."""
    import uproot

    with uproot.open(path) as file:
        if tree not in file:
            raise KeyError(f"{path}: no object {tree!r} (has {sorted(file.keys(cycle=False))})")
        obj = file[tree]
        if not isinstance(obj, uproot.TTree):
            raise TypeError(f"{path}:{tree} is a {type(obj).__name__}, expected a TTree")
        names = list(branches) if branches is not None else None
        if names is not None:
            missing = sorted(set(names) - set(obj.keys()))
            if missing:
                raise KeyError(f"{path}:{tree} lacks branch(es) {missing}")
        return obj.arrays(names, library="pd")


def write_parquet(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Write a DataFrame as parquet (no index), atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Write a DataFrame as CSV (no index), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
