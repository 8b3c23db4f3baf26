"""Finding and checking the user's ROOT files before anything is read: globs, files shipped
in a package, the ROOT header (not a ROOT file, truncated), the tree and its branches. Each
error names the file, the tree or the branch, and the config key that asked for it."""

from __future__ import annotations

import glob
import importlib.resources
import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uproot

#: Prefix of a file shipped in the scikit-hep-testdata package (read from local disk only).
TESTDATA_PREFIX = "skhep_testdata:"


class NtupleError(ValueError):
    """Bad input ntuples: the message names the file, tree, branch or expression, and the
    config key that asked for it where there is one."""

    def __init__(self, message: str, key: str = "") -> None:
        self.message, self.key = message, key
        super().__init__(f"config key '{key}': {message}" if key else message)


def resolve_files(patterns: Sequence[str], key: str) -> list[str]:
    """The files of a source: each pattern a path, a glob (``data/*.root``) or
    ``skhep_testdata:<name>``; sorted within a glob, in the order given across patterns."""
    files: list[str] = []
    for pattern in patterns:
        if pattern.startswith(TESTDATA_PREFIX):
            files.append(_testdata_file(pattern[len(TESTDATA_PREFIX) :], key))
            continue
        matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
        if not matches:
            what = "matches no file" if glob.has_magic(pattern) else "does not exist"
            raise NtupleError(f"{pattern!r} {what} (working directory {os.getcwd()})", key)
        files += [m for m in matches if m not in files]
    return files


def _testdata_file(name: str, key: str) -> str:
    """A file shipped inside scikit-hep-testdata, never downloaded (its ``data_path``
    would fetch files it does not ship)."""
    try:
        root = importlib.resources.files("skhep_testdata.data")
    except ModuleNotFoundError:
        raise NtupleError(
            f"{TESTDATA_PREFIX}{name} needs the package scikit-hep-testdata "
            "(pinned in constraints.txt)",
            key,
        ) from None
    path = Path(str(root / name))
    if not path.is_file():
        raise NtupleError(
            f"{TESTDATA_PREFIX}{name} is not shipped in the installed "
            "scikit-hep-testdata (nothing is downloaded)",
            key,
        )
    return str(path)


def check_root_header(path: str) -> None:
    """Refuse a file that is not ROOT or is shorter than its header says (truncated)."""
    try:
        with open(path, "rb") as file:
            head = file.read(64)
        size = os.path.getsize(path)
    except OSError as error:
        raise NtupleError(f"{path}: cannot read: {error.strerror}") from None
    if head[:4] != b"root":
        raise NtupleError(f"{path}: not a ROOT file (it starts with {head[:4]!r}, not b'root')")
    if len(head) < 25:
        raise NtupleError(f"{path}: truncated ROOT file ({size} bytes, shorter than a header)")
    (version,) = struct.unpack(">i", head[4:8])
    # fEND follows fVersion and fBEGIN: 4 bytes, or 8 in files over 2 GB (version > 1000000)
    end = (
        struct.unpack(">q", head[12:20])[0]
        if version > 1000000
        else struct.unpack(">i", head[12:16])[0]
    )
    if size < end:
        raise NtupleError(
            f"{path}: truncated ROOT file: {size} bytes on disk, its header says {end} "
            "(an interrupted copy or download?)"
        )


def open_tree(path: str, tree: str, key: str) -> uproot.TTree:
    """The TTree ``tree`` of a checked file (the caller closes ``tree.file``)."""
    import uproot  # here, not at import: the workflow's parse opens no file

    check_root_header(path)
    try:
        file = uproot.open(path)
    except Exception as error:
        raise NtupleError(
            f"{path}: uproot cannot open it: {type(error).__name__}: {error}"
        ) from None
    try:
        if tree not in file:
            trees = sorted(k for k, c in file.classnames(cycle=False).items() if c == "TTree")
            raise NtupleError(f"{path} has no tree {tree!r} (its trees: {trees})", key)
        obj = file[tree]
        if not isinstance(obj, uproot.TTree):
            raise NtupleError(f"{path}:{tree} is a {type(obj).__name__}, not a TTree")
    except Exception:
        file.close()
        raise
    return obj


def check_branches(tree: uproot.TTree, path: str, needed: Iterable[tuple[str, str, str]]) -> None:
    """Every (branch, expression, config key) needs ``branch`` in the tree; the error names
    all three and lists the branches there are."""
    have = set(tree.keys(recursive=True, full_paths=True)) | set(tree.keys())
    for branch, expression, key in needed:
        if branch not in have:
            raise NtupleError(
                f"expression {expression!r} reads {branch!r}, which is not a branch of "
                f"{path}:{tree.name} nor defined before it (branches: {sorted(tree.keys())})",
                key,
            )
