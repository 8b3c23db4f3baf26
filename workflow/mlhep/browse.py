"""Browse a workflow's MLflow runs: ``python -m mlhep.browse [--workdir D] [--port N]``.

Starts the MLflow UI (``mlflow server``) on the store the workflow logged to, the one
recorded in ``results/mlflow/experiments.json`` by the rule ``mlflow_init``, with artifacts
served from ``results/mlflow/artifacts``. It listens on 127.0.0.1 only (the store has no
authentication) until Ctrl-C, which stops the server and all its workers. A workflow that
logged to a tracking server (``tracking.uri: http://...``) needs nothing started: its runs
are browsed on that server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from mlhep.tracking import STORE_DIR
from mlhep.tracking.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    running_server,
    server_command,
    server_url,
)

EXPERIMENTS_FILE = STORE_DIR / "experiments.json"


def workflow_store(workdir: str | os.PathLike[str] = ".") -> tuple[str, str]:
    """The tracking URI the workflow in ``workdir`` used and its local artifact directory.

    Raises ``FileNotFoundError`` if the workflow has not created its store yet.
    """
    record = Path(workdir) / EXPERIMENTS_FILE
    if not record.is_file():
        raise FileNotFoundError(
            f"{record} does not exist: run the workflow (snakemake) in {Path(workdir).resolve()} "
            "first; its rule mlflow_init creates the store"
        )
    uri = json.loads(record.read_text())["tracking_uri"]
    return uri, str((Path(workdir) / STORE_DIR / "artifacts").resolve())


def browse_command(
    workdir: str | os.PathLike[str] = ".", host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> list[str]:
    """The ``mlflow server`` command that serves the workflow's store in ``workdir``.

    Raises ``ValueError`` if the workflow logged to a tracking server: there is nothing to
    start, its runs are on that server.
    """
    uri, artifacts = workflow_store(workdir)
    if uri.startswith(("http://", "https://")):
        raise ValueError(f"the workflow logged to the tracking server {uri}; browse it there")
    return server_command(uri, host=host, port=port, artifacts_destination=artifacts)


def experiment_urls(url: str, workdir: str | os.PathLike[str] = ".") -> dict[str, str]:
    """The UI address of each experiment the workflow created, opening on its training runs.

    MLflow 3's UI has a GenAI / model-training switch (default GenAI, remembered by the
    browser) that overrides the experiment's kind; ``?workflowType=machine_learning`` sets
    it to model training.
    """
    record = json.loads((Path(workdir) / EXPERIMENTS_FILE).read_text())
    return {
        dataset: f"{url.rstrip('/')}/#/experiments/{entry['id']}{TRAINING_VIEW}"
        for dataset, entry in record["experiments"].items()
    }


#: The query that makes the MLflow UI show an experiment's training runs.
TRAINING_VIEW = "?workflowType=machine_learning"


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: leave like Ctrl-C, so that the server group is stopped too."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the workflow's runs until interrupted; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m mlhep.browse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--workdir", default=".", help="the workflow's directory (default: .)")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        command = browse_command(args.workdir, args.host, args.port)
    except (FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    url = server_url(args.host, args.port)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    # Ctrl-C stops it even when started in the background (`cmd &` in a script ignores
    # SIGINT, and Python then keeps ignoring it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with running_server(command, url) as server:
            print(f"MLflow UI on {url} (Ctrl-C stops it); the training runs of each data set:")
            for dataset, address in experiment_urls(url, args.workdir).items():
                print(f"  {dataset}: {address}", flush=True)
            code = server.process.wait()
            print(f"MLflow server exited with status {code}", file=sys.stderr)
            return code or 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
