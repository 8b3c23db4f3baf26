"""Put workflow/ on sys.path so that ``import mlhep`` works in a rule's script even where
the package is not installed (conda environments, cluster nodes). Snakemake puts this
scripts folder on the path; each script imports this module first."""

import sys
from pathlib import Path

_LIBRARY_DIR = str(Path(__file__).resolve().parent.parent)
if _LIBRARY_DIR not in sys.path:
    sys.path.insert(0, _LIBRARY_DIR)
