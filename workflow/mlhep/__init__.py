"""mlhep: the library behind the Snakemake workflow (data, features, splits, tracking, metrics).

The rules and scripts of the workflow stay thin; every piece of logic lives here, where it
is unit-tested.
"""

from __future__ import annotations

__version__ = "0.1.0"
