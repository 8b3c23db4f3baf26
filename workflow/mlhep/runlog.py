"""Logging for the workflow's scripts: everything a job prints, and its traceback if it
fails, goes to the rule's ``log:`` file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def script_log(path: str | os.PathLike[str], name: str = "mlhep") -> Iterator[logging.Logger]:
    """Send stdout, stderr and a logger to ``path`` for the duration of a rule's script."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logger = logging.getLogger(name)
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield logger
        except BaseException:
            stream.write(traceback.format_exc())
            raise
        else:
            logger.info("done in %.1f s", time.perf_counter() - start)
        finally:
            root.removeHandler(handler)
            sys.stderr.flush()
