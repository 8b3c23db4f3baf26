"""Rules that make a jagged collection (muons, jets: a variable number per event) flat: one
fixed set of columns per event, as a feature table needs.

Each rule is one entry of :data:`RULES` (a registry, as pyhf's modifiers): its function
takes the collection's fields (awkward arrays of equal structure) and its settings and
returns the flat columns and which events have what the rule needs (the others are
dropped); the entry also says the columns it gives and which settings name the fields it
reads. Every rule also gives ``<name>_count``, the collection's multiplicity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

#: A rule: (collection name, fields, settings) -> (flat columns, events kept).
Rule = Callable[
    [str, Mapping[str, ak.Array], Mapping[str, Any]], tuple[dict[str, np.ndarray], np.ndarray]
]


def _flat(array: ak.Array, fill: float) -> np.ndarray:
    """A float64 NumPy array from a one-per-event awkward array, missing values filled."""
    return ak.to_numpy(ak.fill_none(ak.values_astype(array, np.float64), fill)).astype(np.float64)


def _sorted(fields: Mapping[str, ak.Array], sort_by: str) -> dict[str, ak.Array]:
    """The fields with each event's objects in decreasing ``sort_by`` (stable)."""
    order = ak.argsort(fields[sort_by], axis=-1, ascending=False, stable=True)
    return {name: array[order] for name, array in fields.items()}


def leading(
    name: str, fields: Mapping[str, ak.Array], settings: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The ``n`` leading objects in ``sort_by``, padded with ``fill`` where an event has
    fewer: columns ``<name><i>_<field>`` (``jet0_pt``, ``jet1_pt``, ...); keeps every event."""
    n, fill = int(settings["n"]), float(settings["fill"])
    ordered = _sorted(fields, settings["sort_by"])
    columns: dict[str, np.ndarray] = {}
    for field, array in ordered.items():
        padded = ak.pad_none(ak.values_astype(array, np.float64), n, axis=-1, clip=True)
        values = ak.to_numpy(ak.fill_none(padded, fill)).reshape(-1, n)
        for i in range(n):
            columns[f"{name}{i}_{field}"] = values[:, i].astype(np.float64)
    count = ak.to_numpy(ak.num(fields[settings["sort_by"]], axis=-1)).astype(np.int64)
    columns[f"{name}_count"] = count
    return columns, np.ones(len(count), dtype=bool)


def opposite_charge_pair(
    name: str, fields: Mapping[str, ak.Array], settings: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The leading (in ``sort_by``) negative and the leading positive object: columns
    ``<name>_minus_<field>`` and ``<name>_plus_<field>`` (charge-ordered, as the toy's
    muons); events without an object of each charge are dropped."""
    charge, key = fields[settings["charge"]], fields[settings["sort_by"]]
    columns: dict[str, np.ndarray] = {}
    keep = np.ones(len(key), dtype=bool)
    for sign, label in ((-1, "minus"), (1, "plus")):
        chosen = sign * charge > 0
        has = ak.to_numpy(ak.any(chosen, axis=-1))
        best = ak.argmax(ak.where(chosen, key, -np.inf), axis=-1, keepdims=True)
        for field, array in fields.items():
            if field != settings["charge"]:
                columns[f"{name}_{label}_{field}"] = _flat(ak.firsts(array[best]), np.nan)
        keep &= has
    columns[f"{name}_count"] = ak.to_numpy(ak.num(key, axis=-1)).astype(np.int64)
    return columns, keep


def leading_columns(name: str, settings: Mapping[str, Any]) -> list[str]:
    """The columns :func:`leading` gives."""
    n = int(settings["n"])
    return [f"{name}{i}_{f}" for f in settings["fields"] for i in range(n)]


def pair_columns(name: str, settings: Mapping[str, Any]) -> list[str]:
    """The columns :func:`opposite_charge_pair` gives."""
    fields = [f for f in settings["fields"] if f != settings["charge"]]
    return [f"{name}_{label}_{f}" for label in ("minus", "plus") for f in fields]


@dataclass(frozen=True)
class FlatteningRule:
    """A rule of :data:`RULES`: the function that flattens, the columns it gives (besides
    ``<name>_count``) and the settings whose values are fields it reads (the config checks
    that the collection defines them)."""

    flatten: Rule
    columns: Callable[[str, Mapping[str, Any]], list[str]]
    field_settings: tuple[str, ...]

    def needed_fields(self, settings: Mapping[str, Any]) -> list[str]:
        """The fields of a collection with these settings that the rule reads."""
        return [str(settings[key]) for key in self.field_settings]


#: Each rule by its name (a collection's ``rule`` setting).
RULES: dict[str, FlatteningRule] = {
    "leading": FlatteningRule(leading, leading_columns, field_settings=("sort_by",)),
    "opposite_charge_pair": FlatteningRule(
        opposite_charge_pair, pair_columns, field_settings=("sort_by", "charge")
    ),
}


def outputs(name: str, settings: Mapping[str, Any]) -> list[str]:
    """The flat column names a collection's rule gives (known before any file is read)."""
    return [*RULES[settings["rule"]].columns(name, settings), f"{name}_count"]
