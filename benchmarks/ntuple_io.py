"""Benchmark of ROOT ntuple output and input (prints its numbers; not a test).

1. Write compression: the toy's events tree (the branches of ``DIMUON_BRANCHES``: event_id,
   the 9 low-level columns, label, weight) written by ``mlhep.io.write_root_tree`` with
   uproot's default ZLIB(1), with LZ4(1), ZSTD(1) and the workflow's ``mlhep.io.COMPRESSION``
   (marked *): events/s written, events/s read back (``TTree.arrays``), MB on disk. Then the
   toy generation itself, ``generate_dimuon`` of ``--events`` (half signal), with each,
   against its generator alone (``generate_chunks``, the same arguments, nothing written):
   events/s and the share of the time spent writing.
2. Read at 1 GB: a user-style ntuple in ``mlhep.data.dimuon.ntuples``'s NanoAOD-like layout
   (jagged Muon and Jet, MET, genWeight, event) of ``--gigabytes`` on disk, made by writing
   one toy sample over and over with fresh event ids, chunk by chunk (bounded memory). The
   ``root`` kind's ``produce`` reads it as the signal source (the background source is a
   small file of the same layout, 100k events) and writes the selected events, as the
   workflow does; against it a bare ``uproot.iterate`` loop over the same files, branches
   and step size that only sums genWeight. Each read runs in its own subprocess, so that its
   peak RSS (``VmHWM``) is its own; all import the same modules (baseline RSS printed).
   Printed: MB/s (bytes on disk / wall time), events/s, peak RSS, the ratios produce/bare;
   then the peak RSS at step sizes of 20, 100 and 400 MB (bounded memory: it should follow
   the step size, not the file size).

The big file is read from the page cache (it was just written): MB/s is decompression and
processing, not disk. Times are the best of ``--repeats``; only ratios within one run compare
(a busy machine moves the absolute numbers). At 1 GB the whole run takes about 3 minutes on
2 cores; ``--gigabytes 0.1`` is a quick check. The files go to a temporary directory (or
``--workdir``, where present files are reused) and are deleted unless ``--keep``.

    python benchmarks/ntuple_io.py [--events 1000000] [--gigabytes 1.0] [--repeats 2]
                                   [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pandas as pd
import uproot

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from mlhep import io
from mlhep.config import validate_config
from mlhep.data.dimuon import physics
from mlhep.data.dimuon.generate import DIMUON_BRANCHES, generate_dimuon, physics_weights
from mlhep.data.dimuon.ntuples import (
    USER_TREE,
    branch_types,
    user_columns,
    user_ntuple_settings,
)
from mlhep.data.ntuple.reader import SOURCES, plan_source, produce

#: The codecs compared; the workflow's own is added when it is none of them.
CODECS: dict[str, Any] = {
    "ZLIB(1)": uproot.ZLIB(1),
    "LZ4(1)": uproot.LZ4(1),
    "ZSTD(1)": uproot.ZSTD(1),
}
#: Expected yields of generate_dimuon (the workflow's defaults; they only set the weights).
EXPECTED = (1000.0, 1e5)
#: Step sizes of the memory scan (the middle one is the root kind's default).
STEP_SIZES = ("20 MB", "100 MB", "400 MB")
#: Events of the small background file of part 2.
BACKGROUND_EVENTS = 100_000
MB = 1e6


def best(repeats: int, function: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """The shortest wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


@contextlib.contextmanager
def workflow_compression(codec: Any) -> Iterator[None]:
    """Make the workflow's writers (``io.write_root_tree``) use ``codec`` for a while."""
    saved = io.COMPRESSION
    io.COMPRESSION = codec
    try:
        yield
    finally:
        io.COMPRESSION = saved


def codecs() -> dict[str, Any]:
    """The codecs compared, the workflow's own marked with ``*``."""
    named = {
        f"{name}*" if codec == io.COMPRESSION else name: codec for name, codec in CODECS.items()
    }
    if io.COMPRESSION not in CODECS.values():
        named[f"{io.COMPRESSION!r}*"] = io.COMPRESSION
    return named


# ----------------------------------------------------------------- part 1: compression


def toy_arguments(events: int, seed: int) -> tuple[int, int, int, float, float]:
    """``generate_chunks``' arguments as ``generate_dimuon`` passes them for ``events``."""
    n_signal, n_background = events // 2, events - events // 2
    return n_signal, n_background, seed, *physics_weights(n_signal, n_background, *EXPECTED)


def generate_only(events: int, seed: int) -> None:
    """The toy generator alone, its chunks dropped as they come (nothing written)."""
    for _ in physics.generate_chunks(*toy_arguments(events, seed)):
        pass


def read_back(path: Path) -> int:
    """Read every branch of a written events tree into NumPy; return the entries."""
    with uproot.open(path) as file:
        arrays = file[io.TREE_NAME].arrays(library="np")
    return len(arrays["event_id"])


def compression_part(events: int, seed: int, repeats: int, directory: Path) -> None:
    """Print write and read speed and size per codec, then generation speed per codec."""
    chunks = [c.columns for c in physics.generate_chunks(*toy_arguments(events, seed))]
    path = directory / "toy_events.root"
    print(
        f"\n== 1. write compression: {events:,} toy events, {len(DIMUON_BRANCHES)} branches "
        f"(io.write_root_tree), best of {repeats}; * = mlhep.io.COMPRESSION"
    )
    print(f"{'codec':<10} {'write ev/s':>12} {'read ev/s':>12} {'MB':>8} {'B/event':>8}")
    for name, codec in codecs().items():
        with workflow_compression(codec):
            write_s = best(repeats, io.write_root_tree, path, chunks, DIMUON_BRANCHES)
        read_s = best(repeats, read_back, path)
        size = path.stat().st_size
        print(
            f"{name:<10} {events / write_s / MB:>11.2f}M {events / read_s / MB:>11.2f}M "
            f"{size / MB:>8.1f} {size / events:>8.1f}"
        )
    del chunks
    alone_s = best(repeats, generate_only, events, seed)
    n_signal, n_background = events // 2, events - events // 2
    print(
        f"\ngenerate_dimuon({n_signal:,} + {n_background:,} events): generate_chunks alone "
        f"{alone_s:.2f} s = {events / alone_s / MB:.2f}M ev/s"
    )
    print(f"{'codec':<10} {'seconds':>8} {'ev/s':>10} {'writing':>8}")
    for name, codec in codecs().items():
        with workflow_compression(codec):
            total_s = best(
                repeats,
                generate_dimuon,
                path,
                n_signal,
                n_background,
                *EXPECTED,
                seed=seed,
                progress=False,
            )
        print(
            f"{name:<10} {total_s:>8.2f} {events / total_s / MB:>9.2f}M "
            f"{max(0.0, 1 - alone_s / total_s):>8.0%}"
        )
    path.unlink(missing_ok=True)


# ------------------------------------------------------------ part 2: reading at 1 GB


def write_user_ntuple(
    path: Path, columns: Mapping[str, Any], events: int, first_id: int, codec: Any
) -> None:
    """Write ``events`` events into ``path`` (tree ``Events``, atomically): the sample
    ``columns`` over and over, one ``extend`` per chunk of at most ``CHUNK_SIZE``, with the
    event ids ``first_id, first_id + 1, ...``."""
    base = len(columns["event"])
    with io.atomic_path(path) as tmp, uproot.recreate(tmp, compression=codec) as file:
        title = "toy dimuon, user layout, repeated"
        tree = file.mktree(USER_TREE, branch_types(columns), title=title)
        written = 0
        while written < events:
            lo = written % base
            hi = min(base, lo + physics.CHUNK_SIZE, lo + events - written)
            chunk = {k: v[lo:hi] for k, v in columns.items()}
            chunk["event"] = np.arange(first_id + written, first_id + written + hi - lo)
            tree.extend(chunk)
            written += hi - lo


def make_ntuples(
    directory: Path, gigabytes: float, events: int, seed: int, created: list[Path]
) -> dict[str, Path]:
    """The big signal file of about ``gigabytes`` GB and the small background file, made
    unless present (then reused); the files made are appended to ``created``."""
    paths = {
        "signal": directory / f"user_signal_{gigabytes:g}GB.root",
        "background": directory / "user_background.root",
    }
    if all(p.exists() for p in paths.values()):
        print(
            f"reusing {paths['signal']} ({paths['signal'].stat().st_size / MB:.0f} MB) "
            f"and {paths['background'].name}"
        )
        return paths
    chunks = physics.generate_chunks(*toy_arguments(events, seed))
    columns = user_columns(pd.concat([pd.DataFrame(c.columns) for c in chunks], ignore_index=True))
    codec = io.COMPRESSION
    write_user_ntuple(paths["background"], columns, BACKGROUND_EVENTS, 0, codec)
    created.append(paths["background"])
    per_event = paths["background"].stat().st_size / BACKGROUND_EVENTS
    n_signal = math.ceil(gigabytes * 1e9 / per_event / physics.CHUNK_SIZE) * physics.CHUNK_SIZE
    print(
        f"user layout with {codec!r}: {per_event:.1f} B/event (from the background file) "
        f"-> {n_signal:,} signal events for {gigabytes:g} GB"
    )
    start = time.perf_counter()
    write_user_ntuple(paths["signal"], columns, n_signal, BACKGROUND_EVENTS, codec)
    created.append(paths["signal"])
    seconds = time.perf_counter() - start
    size = paths["signal"].stat().st_size
    print(
        f"wrote {paths['signal']}: {n_signal:,} events, {size / MB:.0f} MB in {seconds:.1f} s "
        f"({n_signal / seconds / MB:.2f}M ev/s, {size / MB / seconds:.0f} MB/s)"
    )
    return paths


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB: Linux's ``VmHWM``, which starts
    afresh at ``exec`` (``ru_maxrss`` does not: a child's starts at its parent's RSS at
    ``fork``); ``ru_maxrss`` (KiB) elsewhere."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_iterate(sources: list[dict[str, Any]], step_size: str) -> int:
    """A bare ``uproot.iterate`` loop over each source's files and branches that only sums
    genWeight; return the events read."""
    events, total = 0, 0.0
    for source in sources:
        files = [f"{path}:{source['tree']}" for path in source["files"]]
        for arrays in uproot.iterate(files, source["branches"], step_size=step_size, library="ak"):
            events += len(arrays)
            total += float(ak.sum(arrays["genWeight"]))
    return events


def child(spec: dict[str, Any]) -> None:
    """One read in this (child) process: print its seconds, events and RSS as JSON."""
    baseline = peak_rss_mb()
    start = time.perf_counter()
    if spec["reader"] == "produce":
        settings = {**spec["settings"], "step_size": spec["step_size"]}
        record = produce(spec["output"], settings, 0, dataset="bench", progress=False)
        events = sum(source["read"] for source in record["sources"].values())
    else:
        events = bare_iterate(spec["sources"], spec["step_size"])
    seconds = time.perf_counter() - start
    Path(spec["output"]).unlink(missing_ok=True)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "events": events,
                "baseline_mb": baseline,
                "peak_mb": peak_rss_mb(),
            }
        )
    )


def run_child(spec: Mapping[str, Any]) -> dict[str, float]:
    """Run :func:`child` in a fresh Python process; return what it printed."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"child {spec['reader']} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def read_part(paths: Mapping[str, Path], repeats: int, directory: Path) -> None:
    """Print produce against a bare uproot.iterate loop on the big file, then the peak RSS
    per step size."""
    config = {"datasets": {"bench": user_ntuple_settings(paths)}}
    validate_config(config)
    settings = config["datasets"]["bench"]
    sources = []
    for source in SOURCES:
        plan = plan_source("bench", source, settings)
        sources.append(
            {
                "files": plan.files,
                "tree": plan.tree,
                "branches": sorted({b for b, _, _ in plan.branches()}),
            }
        )
    size = sum(p.stat().st_size for p in paths.values())
    spec = {"settings": settings, "sources": sources, "output": str(directory / "events.root")}
    print(
        f"\n== 2. read: signal {paths['signal'].stat().st_size / MB:.0f} MB + background "
        f"{paths['background'].stat().st_size / MB:.1f} MB = {size / MB:.0f} MB on disk, "
        f"branches {sources[0]['branches']}"
    )
    print(
        "each read in its own subprocess; produce also writes the selected events "
        f"(its output, {io.COMPRESSION!r}), bare only iterates"
    )
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for step in STEP_SIZES:
        for _ in range(repeats if step == "100 MB" else 1):
            for reader in ("bare", "produce"):
                result = run_child({**spec, "reader": reader, "step_size": step})
                runs.setdefault((reader, step), []).append(result)
    fastest = {key: min(results, key=lambda r: r["seconds"]) for key, results in runs.items()}
    peaks = {key: max(r["peak_mb"] for r in results) for key, results in runs.items()}
    n_repeats = len(runs["bare", "100 MB"])
    print(f"\nstep size 100 MB, best of {n_repeats}:")
    print(
        f"{'reader':<8} {'seconds':>8} {'MB/s':>8} {'ev/s':>9} {'peak RSS MB':>12} "
        f"{'(baseline)':>11}"
    )
    for reader in ("bare", "produce"):
        r = fastest[reader, "100 MB"]
        print(
            f"{reader:<8} {r['seconds']:>8.2f} {size / MB / r['seconds']:>8.0f} "
            f"{r['events'] / r['seconds'] / MB:>8.2f}M {peaks[reader, '100 MB']:>12.0f} "
            f"{r['baseline_mb']:>11.0f}"
        )
    bare, ours = fastest["bare", "100 MB"], fastest["produce", "100 MB"]
    above = [
        peaks[reader, "100 MB"] - fastest[reader, "100 MB"]["baseline_mb"]
        for reader in ("produce", "bare")
    ]
    print(
        f"ratio produce/bare: time {ours['seconds'] / bare['seconds']:.2f}, peak RSS "
        f"{peaks['produce', '100 MB'] / peaks['bare', '100 MB']:.2f}, peak RSS above the "
        f"baseline (what the imports take) {above[0] / above[1]:.2f}"
    )
    print(
        f"\npeak RSS per step size ({size / MB:.0f} MB of files; one run each, 100 MB: "
        f"the largest of {n_repeats}):"
    )
    print(f"{'step size':<10} {'produce MB':>11} {'produce s':>10} {'bare MB':>8} {'bare s':>7}")
    for step in STEP_SIZES:
        print(
            f"{step:<10} {peaks['produce', step]:>11.0f} "
            f"{fastest['produce', step]['seconds']:>10.1f} {peaks['bare', step]:>8.0f} "
            f"{fastest['bare', step]['seconds']:>7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="toy events of part 1, and of the sample repeated in part 2",
    )
    parser.add_argument("--gigabytes", type=float, default=1.0, help="size of the big ntuple")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="where the files go (present ones reused)")
    parser.add_argument("--keep", action="store_true", help="keep the files this run made")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    start = time.perf_counter()
    directory = args.workdir or Path(tempfile.mkdtemp(prefix="ntuple_io."))
    directory.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    try:
        compression_part(args.events, args.seed, args.repeats, directory)
        print(f"\n== 2. a user-style ntuple of {args.gigabytes:g} GB in {directory}")
        paths = make_ntuples(directory, args.gigabytes, args.events, args.seed, created)
        read_part(paths, args.repeats, directory)
    finally:
        if not args.keep:
            for path in created:
                path.unlink(missing_ok=True)
            if args.workdir is None:
                shutil.rmtree(directory, ignore_errors=True)
    print(f"\nwhole run: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
