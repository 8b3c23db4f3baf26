"""The ``root`` dataset kind: signal and background from the user's ROOT ntuples, the way
TMVA's DataLoader takes them (signal trees, background trees, variables, cuts, weights).

Per source (``signal``, ``background``): files (paths, globs, ``skhep_testdata:<name>``), a
tree, jagged ``collections`` made flat by a rule (:mod:`.flatten`), ``aliases`` (named
expressions), a ``cut``, a ``weight`` and optionally an ``event_id``. For the dataset: the
``features`` (names or name -> expression, :mod:`.expressions`), a ``cut`` both sources
pass, and an optional engineering (``dimuon``: the toy's pair observables from charge-ordered
muons). Every file is checked (ROOT header, truncation, tree, branches) before any is read;
then each file is read in chunks with ``uproot`` (``TTree.iterate``: memory bounded by
``step_size``), and the selected events are written as the dataset's flat ``events`` tree.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import pandas as pd
from tqdm import tqdm

from mlhep import io
from mlhep.data import META_COLUMNS, DatasetKind
from mlhep.data.dimuon.features import (
    FEATURE_LABELS,
    HIGH_LEVEL_FEATURES,
    MUON_COLUMNS,
)
from mlhep.data.dimuon.features import (
    engineer as dimuon_pairs,
)
from mlhep.data.ntuple import flatten
from mlhep.data.ntuple.expressions import Expression, ExpressionError, parse, to_numpy
from mlhep.data.ntuple.files import NtupleError, check_branches, open_tree, resolve_files

#: Each source and its label.
SOURCES = {"signal": 1, "background": 0}
#: Internal names of a source's weight, cuts and id (not identifiers: no feature is named so).
WEIGHT, CUT, DATASET_CUT, EVENT_ID = ":weight", ":cut", ":dataset_cut", ":event_id"
#: Internal names of the one-per-event setting's ranking and event keys (``:event_key<i>``).
BEST, EVENT_KEY = ":best", ":event_key"
_EXPRESSION = {"type": "string", "minLength": 1}
_COLLECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A jagged collection made flat: its fields and the rule that flattens it.",
    "properties": {
        "fields": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": _EXPRESSION,
            "description": (
                "Field name -> expression over the tree's jagged branches "
                "(e.g. pt: 'sqrt(Muon_Px**2 + Muon_Py**2)')."
            ),
        },
        "rule": {
            "enum": list(flatten.RULES),
            "description": (
                "leading: the n leading objects as <name><i>_<field>, padded with fill; "
                "opposite_charge_pair: the leading negative and positive object as "
                "<name>_minus_<field>, <name>_plus_<field> (events without a pair are dropped)."
            ),
        },
        "sort_by": {
            "type": "string",
            "default": "pt",
            "description": "The field that orders the objects (decreasing).",
        },
        "n": {
            "type": "integer",
            "minimum": 1,
            "default": 2,
            "description": "leading: how many objects.",
        },
        "fill": {
            "type": "number",
            "default": -999.0,
            "description": "leading: the value of a missing object's fields.",
        },
        "charge": {
            "type": "string",
            "default": "charge",
            "description": "opposite_charge_pair: the charge field.",
        },
    },
    "required": ["fields", "rule"],
    "additionalProperties": False,
}
_SOURCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "files": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "minLength": 1},
            "description": (
                "ROOT files: paths, globs (relative to the working directory) or "
                "skhep_testdata:<name> (a file shipped in scikit-hep-testdata)."
            ),
        },
        "tree": {"type": "string", "default": "events", "description": "The TTree in every file."},
        "collections": {
            "type": "object",
            "default": {},
            "additionalProperties": _COLLECTION_SCHEMA,
            "description": (
                "Jagged collections made flat (name -> fields and rule); each also gives "
                "<name>_count."
            ),
        },
        "aliases": {
            "type": "object",
            "default": {},
            "additionalProperties": _EXPRESSION,
            "description": (
                "Named expressions, in order, over branches, collection columns and earlier "
                "aliases: give both sources the same names."
            ),
        },
        "cut": {
            "type": ["string", "null"],
            "default": None,
            "description": "Selection of this source's events (a boolean expression).",
        },
        "weight": {
            "type": "string",
            "default": "1",
            "description": "Event weight: a branch or an expression.",
        },
        "event_id": {
            "type": ["string", "null"],
            "default": None,
            "description": (
                "Unique integer id of each event (an expression); null: numbered in reading "
                "order, signal first."
            ),
        },
        "one_per_event": {
            "type": ["object", "null"],
            "default": None,
            "description": (
                "For a tree with one entry per candidate (a pair, say): keep one candidate per "
                "event, the one with the lowest (or highest) `best` among the entries of the "
                "event that pass the cuts; null: keep every entry. The record counts the events "
                "that had more than one candidate."
            ),
            "properties": {
                "event": {
                    "type": "array",
                    "minItems": 1,
                    "items": _EXPRESSION,
                    "description": (
                        "Integer expressions that together identify an event (e.g. [Run, "
                        "Event]); its entries must be adjacent in the files."
                    ),
                },
                "best": {
                    **_EXPRESSION,
                    "description": (
                        "The expression that ranks an event's candidates, e.g. "
                        "'abs(M - 91.1876)' (the mass closest to the Z's) or 'pt1 + pt2'; a tie "
                        "keeps the first in the file."
                    ),
                },
                "keep": {
                    "enum": ["lowest", "highest"],
                    "default": "lowest",
                    "description": "Keep the candidate with the lowest or the highest `best`.",
                },
            },
            "required": ["event", "best"],
            "additionalProperties": False,
        },
    },
    "required": ["files"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Engineering:
    """Columns computed from the features read (a dataset's ``engineer`` setting): the
    features it needs, the columns it adds, and ``apply``, which takes a frame of the
    features and returns one with the added columns too."""

    needs: tuple[str, ...]
    columns: tuple[str, ...]
    apply: Callable[[pd.DataFrame], pd.DataFrame]


#: The engineering that adds nothing (the ``engineer`` setting's default).
NO_ENGINEERING = "none"
#: Each engineering by its name (a registry: one entry adds one).
ENGINEERINGS: dict[str, Engineering] = {
    # the toy's pair observables from charge-ordered muons
    "dimuon": Engineering(needs=MUON_COLUMNS, columns=HIGH_LEVEL_FEATURES, apply=dimuon_pairs),
}
#: The config keys of a root dataset (beside ``kind`` and the generic ones).
SETTINGS_SCHEMA: dict[str, Any] = {
    "signal": {
        **_SOURCE_SCHEMA,
        "default": {},
        "description": "Where the signal events (label 1) come from.",
    },
    "background": {
        **_SOURCE_SCHEMA,
        "default": {},
        "description": "Where the background events (label 0) come from.",
    },
    "features": {
        "type": ["array", "object"],
        "default": [],
        "description": (
            "The feature columns: a list of names (branches or aliases), or name -> "
            "expression (e.g. log_pt: 'log(pt)')."
        ),
    },
    "cut": {
        "type": ["string", "null"],
        "default": None,
        "description": "A selection both sources pass (after their own cuts).",
    },
    "engineer": {
        "enum": [NO_ENGINEERING, *ENGINEERINGS],
        "default": NO_ENGINEERING,
        "description": (
            "dimuon: add the toy's pair observables "
            "(mlhep.data.dimuon.features.HIGH_LEVEL_FEATURES) computed from features named "
            "as the toy's charge-ordered muons (pt, eta, phi of each)."
        ),
    },
    "step_size": {
        "type": ["string", "integer"],
        "default": "100 MB",
        "description": (
            "How much uproot reads at a time (bytes as '100 MB', or entries): bounds the memory."
        ),
    },
}


def feature_expressions(settings: Mapping[str, Any]) -> dict[str, str]:
    """The feature columns and their expressions (a list of names maps each to itself)."""
    features = settings.get("features") or {}
    if isinstance(features, list):
        return {str(name): str(name) for name in features}
    return {str(name): str(text) for name, text in features.items()}


def engineering(settings: Mapping[str, Any]) -> Engineering | None:
    """The engineering a root dataset's settings ask for (``None``: none)."""
    return ENGINEERINGS.get(settings.get("engineer", NO_ENGINEERING))


def columns_of(settings: Mapping[str, Any]) -> list[str]:
    """The feature table's columns: the features, then the engineered ones."""
    columns = list(feature_expressions(settings))
    added = engineering(settings)
    if added is not None:
        columns += [c for c in added.columns if c not in columns]
    return columns


def layout(settings: Mapping[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """The columns and default feature sets: ``all``; with the dimuon engineering also
    ``low`` (the features read) and ``high`` (the engineered ones)."""
    columns = columns_of(settings)
    features = list(feature_expressions(settings))
    sets = {"all": columns}
    if len(columns) > len(features):
        sets = {"low": features, "high": columns[len(features) :], "all": columns}
    return columns, sets


@dataclass(frozen=True)
class Step:
    """One named expression of a source, with the config key it comes from."""

    key: str
    name: str
    expression: Expression


@dataclass
class SourcePlan:
    """What to read from one source and how: parsed before any file is opened."""

    name: str
    label: int
    files: list[str]
    tree: str
    key: str
    collections: dict[str, tuple[dict[str, Any], list[Step]]]
    aliases: list[Step]
    finals: list[Step]
    step_size: str | int
    #: The one-per-event setting (``None``: every entry is kept).
    one_per_event: Mapping[str, Any] | None = None
    #: What reading gave: entries read, dropped by the collection rules, failing the cuts,
    #: events with more than one candidate and the candidates dropped for them (the
    #: one-per-event setting), selected, and the selected entries' summed weight.
    counts: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "read",
                "dropped_by_collections",
                "failed_cuts",
                "multiple_candidate_events",
                "dropped_candidates",
                "selected",
                "weight_sum",
            ),
            0,
        )
    )
    #: The last event's candidates of the chunk read last (its next entries may follow in
    #: the next chunk), and the event keys of the candidates kept so far.
    pending: dict[str, np.ndarray] | None = None
    kept_keys: list[np.ndarray] = field(default_factory=list)

    def branches(self) -> list[tuple[str, str, str]]:
        """The tree branches the expressions read, as (branch, expression, config key):
        names a collection, an alias or a feature defines are not branches."""
        needed: dict[str, tuple[str, str, str]] = {}
        defined: set[str] = set()
        for name, (settings, fields) in self.collections.items():
            for step in fields:
                for branch in step.expression.names:
                    needed.setdefault(branch, (branch, step.expression.text, step.key))
            defined |= set(flatten.outputs(name, settings))
        for step in [*self.aliases, *self.finals]:
            for branch in step.expression.names - defined:
                needed.setdefault(branch, (branch, step.expression.text, step.key))
            if step.name.isidentifier():  # aliases and features: later steps may read them
                defined.add(step.name)
        return list(needed.values())


def _parse(key: str, text: str) -> Expression:
    """Parse an expression, naming the config key in the error."""
    try:
        return parse(text)
    except ExpressionError as error:
        raise NtupleError(str(error), key) from None


def plan_source(dataset: str, source: str, settings: Mapping[str, Any]) -> SourcePlan:
    """Parse one source's expressions and find its files."""
    key = f"datasets.{dataset}.{source}"
    conf = settings[source]
    collections = {}
    for name, coll in conf.get("collections", {}).items():
        fields = [
            Step(
                f"{key}.collections.{name}.fields.{f}",
                f,
                _parse(f"{key}.collections.{name}.fields.{f}", t),
            )
            for f, t in coll["fields"].items()
        ]
        collections[name] = (dict(coll), fields)
    aliases = [
        Step(f"{key}.aliases.{n}", n, _parse(f"{key}.aliases.{n}", t))
        for n, t in conf.get("aliases", {}).items()
    ]
    finals = [
        Step(f"datasets.{dataset}.features.{n}", n, _parse(f"datasets.{dataset}.features.{n}", t))
        for n, t in feature_expressions(settings).items()
    ]
    finals.append(Step(f"{key}.weight", WEIGHT, _parse(f"{key}.weight", conf.get("weight", "1"))))
    for name, text, where in (
        (CUT, conf.get("cut"), f"{key}.cut"),
        (DATASET_CUT, settings.get("cut"), f"datasets.{dataset}.cut"),
        (EVENT_ID, conf.get("event_id"), f"{key}.event_id"),
    ):
        if text is not None:
            finals.append(Step(where, name, _parse(where, text)))
    one = conf.get("one_per_event")
    if one is not None:
        finals.append(
            Step(
                f"{key}.one_per_event.best", BEST, _parse(f"{key}.one_per_event.best", one["best"])
            )
        )
        for i, text in enumerate(one["event"]):
            where = f"{key}.one_per_event.event[{i}]"
            finals.append(Step(where, f"{EVENT_KEY}{i}", _parse(where, text)))
    files = resolve_files(conf["files"], f"{key}.files")
    return SourcePlan(
        name=source,
        label=SOURCES[source],
        files=files,
        tree=conf.get("tree", "events"),
        key=key,
        collections=collections,
        aliases=aliases,
        finals=finals,
        step_size=settings.get("step_size", "100 MB"),
        one_per_event=one,
    )


def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a schema cannot say, checked without reading any file: both sources and the
    features present, every expression parses, the files exist, the engineering has its
    features (the dimuon one its muons), the collection rules have their fields."""
    problems: list[tuple[str, str]] = []
    for source in SOURCES:
        if source not in settings:
            problems.append((source, "missing: the files, tree and weight of these events"))
    if not feature_expressions(settings):
        problems.append(("features", "missing or empty: the feature columns to read"))
    for name in feature_expressions(settings):
        if not name.isidentifier() or name in META_COLUMNS:
            problems.append(
                (
                    f"features.{name}",
                    f"a feature name must be an identifier and not one of {list(META_COLUMNS)}",
                )
            )
    added = engineering(settings)
    if added is not None:
        missing = sorted(set(added.needs) - set(feature_expressions(settings)))
        if missing:
            problems.append(("engineer", f"{settings['engineer']} needs the features {missing}"))
    if problems:
        return problems
    for source in SOURCES:
        for name, coll in settings[source].get("collections", {}).items():
            fields = coll["fields"]
            for wanted in flatten.RULES[coll["rule"]].needed_fields(coll):
                if wanted not in fields:
                    problems.append(
                        (
                            f"{source}.collections.{name}",
                            f"rule {coll['rule']!r} needs "
                            f"the field {wanted!r} (fields: {sorted(fields)})",
                        )
                    )
    for key, text in _expressions(settings):
        try:
            parse(text)
        except ExpressionError as error:
            problems.append((key, str(error)))
    for source in SOURCES:
        try:
            resolve_files(settings[source]["files"], f"{source}.files")
        except NtupleError as error:
            problems.append((error.key, error.message))
    return problems


def _expressions(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every expression of a root dataset's settings, with its key (relative to the
    dataset)."""
    yield from ((f"features.{n}", t) for n, t in feature_expressions(settings).items())
    if settings.get("cut") is not None:
        yield "cut", settings["cut"]
    for source in SOURCES:
        conf = settings[source]
        for name, coll in conf.get("collections", {}).items():
            yield from (
                (f"{source}.collections.{name}.fields.{f}", t) for f, t in coll["fields"].items()
            )
        yield from ((f"{source}.aliases.{n}", t) for n, t in conf.get("aliases", {}).items())
        for key in ("cut", "weight", "event_id"):
            if conf.get(key) is not None:
                yield f"{source}.{key}", conf[key]
        one = conf.get("one_per_event")
        if one is not None:
            yield f"{source}.one_per_event.best", one["best"]
            yield from (
                (f"{source}.one_per_event.event[{i}]", t) for i, t in enumerate(one["event"])
            )


def _numpy_if_flat(array: ak.Array) -> Any:
    """Flat numeric branches as NumPy (faster arithmetic), integers widened to 64 bits (so
    that ``Run * 100000 + Event`` does not wrap around in 32); jagged and strings stay
    awkward."""
    layout = array.layout
    if isinstance(layout, ak.contents.NumpyArray) and layout.data.ndim == 1:
        values = ak.to_numpy(array)
        if values.dtype.kind in "iu" and values.dtype.itemsize < 8:
            return values.astype(np.int64)
        return values
    return array


class _StepFailed(Exception):
    """An expression of a step failed on the data (carries the step for the message)."""

    def __init__(self, step: Step, error: ExpressionError) -> None:
        super().__init__(str(error))
        self.step = step


def _value(step: Step, columns: Mapping[str, Any], n: int | None = None) -> Any:
    """A step's value on a chunk (one per event when ``n`` is given)."""
    try:
        value = step.expression.evaluate(columns)
        return value if n is None else to_numpy(value, n, f"expression {step.expression.text!r}")
    except ExpressionError as error:
        raise _StepFailed(step, error) from None


def _chunk_columns(plan: SourcePlan, arrays: ak.Array) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The final columns (features, weight, cuts, id) of one chunk and the events that pass
    the collection rules and cuts."""
    n = len(arrays)
    columns: dict[str, Any] = {b: _numpy_if_flat(arrays[b]) for b in arrays.fields}
    keep = np.ones(n, dtype=bool)
    for name, (settings, fields) in plan.collections.items():
        values = {s.name: _value(s, columns) for s in fields}
        flat, has = flatten.RULES[settings["rule"]].flatten(name, values, settings)
        plan.counts["dropped_by_collections"] += int((~has).sum())
        keep &= has
        columns.update(flat)
    for step in plan.aliases:
        columns[step.name] = _value(step, columns)
    out: dict[str, np.ndarray] = {}
    for step in plan.finals:  # features first: the cuts, weight and id may read them
        out[step.name] = _value(step, columns, n)
        if step.name.isidentifier():
            columns[step.name] = out[step.name]
    before = int(keep.sum())
    for name in (CUT, DATASET_CUT):
        if name in out:
            if out[name].dtype != bool:
                step = next(s for s in plan.finals if s.name == name)
                raise NtupleError(
                    f"the cut {step.expression.text!r} gives {out[name].dtype} "
                    "values, not true/false",
                    step.key,
                )
            keep &= out.pop(name)
    plan.counts["failed_cuts"] += before - int(keep.sum())
    return out, keep


def _read_source(plan: SourcePlan, progress: tqdm) -> Iterator[dict[str, np.ndarray]]:
    """The selected events of one source, chunk by chunk, file after file."""
    branches = sorted({b for b, _, _ in plan.branches()})
    for path in plan.files:
        tree = open_tree(path, plan.tree, f"{plan.key}.tree")
        try:
            iterator = tree.iterate(branches, step_size=plan.step_size, library="ak")
            while True:
                try:
                    arrays = next(iterator)
                except StopIteration:
                    break
                except Exception as error:
                    raise NtupleError(
                        f"{path}:{plan.tree}: reading failed (damaged file?): "
                        f"{type(error).__name__}: {error}"
                    ) from None
                try:
                    out, keep = _chunk_columns(plan, arrays)
                except _StepFailed as failed:
                    raise NtupleError(f"{path}:{plan.tree}: {failed}", failed.step.key) from None
                plan.counts["read"] += len(arrays)
                progress.update(len(arrays))
                selected = {name: values[keep] for name, values in out.items()}
                _finite(plan, selected, f"{path}:{plan.tree}")
                if plan.one_per_event is not None:
                    selected = _one_per_event(plan, selected, final=False)
                yield selected
            last = _one_per_event(plan, {}, final=True) if plan.one_per_event else {}
            if last:  # the file's last event
                yield last
        finally:
            tree.file.close()
    if plan.one_per_event is not None:
        _adjacent(plan)


def _one_per_event(
    plan: SourcePlan, chunk: dict[str, np.ndarray], *, final: bool
) -> dict[str, np.ndarray]:
    """The chunk's selected entries with one candidate per event: the lowest (or highest)
    ``best`` of each run of adjacent entries with the same event keys (the first of equals).
    The chunk's last event waits for the next chunk (its entries may go on there) unless
    ``final``; the events with several candidates and the candidates dropped are counted."""
    settings = plan.one_per_event or {}
    if plan.pending is not None:
        chunk = {
            k: np.concatenate([plan.pending[k], chunk[k]]) if chunk else plan.pending[k]
            for k in plan.pending
        }
        plan.pending = None
    n_keys = len(settings["event"])
    names = [f"{EVENT_KEY}{i}" for i in range(n_keys)]
    if not chunk or len(chunk[BEST]) == 0:
        return {k: v for k, v in chunk.items() if k not in (BEST, *names)}
    for i, name in enumerate(names):
        if chunk[name].dtype.kind not in "iu":
            raise NtupleError(
                f"gives {chunk[name].dtype} values, not integers (an event's identity)",
                f"{plan.key}.one_per_event.event[{i}]",
            )
    keys = np.stack([chunk[name].astype(np.int64) for name in names], axis=1)
    n = len(keys)
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
    if not final:  # the last event's entries may go on in the next chunk
        plan.pending = {k: v[starts[-1] :] for k, v in chunk.items()}
        chunk = {k: v[: starts[-1]] for k, v in chunk.items()}
        keys, n, starts = keys[: starts[-1]], starts[-1], starts[:-1]
        if n == 0:
            return {k: v for k, v in chunk.items() if k not in (BEST, *names)}
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    best = chunk[BEST].astype(np.float64)
    if settings.get("keep", "lowest") == "highest":
        best = -best
    order = np.lexsort((np.arange(n), best, group))  # by event, then best, then position
    chosen = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    sizes = np.diff(np.r_[starts, n])
    plan.counts["multiple_candidate_events"] += int((sizes > 1).sum())
    plan.counts["dropped_candidates"] += int((sizes - 1).sum())
    plan.kept_keys.append(keys[chosen])
    return {k: v[chosen] for k, v in chunk.items() if k not in (BEST, *names)}


def _adjacent(plan: SourcePlan) -> None:
    """Refuse an event whose candidates were not adjacent (one per event would keep it
    twice): its keys among those kept more than once."""
    if not plan.kept_keys:
        return
    keys = np.concatenate(plan.kept_keys)
    plan.kept_keys.clear()
    keys = keys[np.lexsort(keys.T[::-1])]
    repeated = np.flatnonzero((keys[1:] == keys[:-1]).all(axis=1))
    if len(repeated):
        example = tuple(int(k) for k in keys[repeated[0]])
        raise NtupleError(
            f"{len(repeated)} event(s) have candidates that are not adjacent in the files "
            f"(e.g. the event {example}); one per event needs an event's entries together",
            f"{plan.key}.one_per_event.event",
        )


def _finite(plan: SourcePlan, chunk: Mapping[str, np.ndarray], where: str) -> None:
    """Refuse features or weights that are not finite (NaN, inf) on selected events."""
    for step in plan.finals:
        values = chunk.get(step.name)
        if values is None or step.name == EVENT_ID or values.dtype.kind not in "fc":
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            raise NtupleError(
                f"{step.expression.text!r} is not finite (NaN or inf) for {int(bad.sum())} "
                f"selected event(s) of {where} in this chunk; restrict the cut or guard the "
                "expression",
                step.key,
            )


def produce(
    events_path: str | os.PathLike[str],
    settings: Mapping[str, Any],
    seed: int,
    *,
    dataset: str = "root",
    progress: bool = True,
) -> dict[str, Any]:
    """Read, flatten and select both sources into the dataset's flat ``events`` tree
    (atomically; nothing is left on error); return a record of what each step kept.

    ``seed`` is unused (the kind is not ``seeded``): the events are the files'.
    """
    del seed
    start = time.perf_counter()
    plans = [plan_source(dataset, source, settings) for source in SOURCES]
    entries = {}
    for plan in plans:  # every file, tree and branch checked before anything is read
        total = 0
        for path in plan.files:
            tree = open_tree(path, plan.tree, f"{plan.key}.tree")
            try:
                check_branches(tree, path, plan.branches())
                total += tree.num_entries
            finally:
                tree.file.close()
        entries[plan.name] = total
    features = list(feature_expressions(settings))
    columns = columns_of(settings)
    added = engineering(settings)
    branch_types: dict[str, Any] = {
        "event_id": np.int64,
        "label": np.int32,
        "weight": np.float64,
        **{c: np.float64 for c in columns},
    }
    next_id = 0
    ids: list[np.ndarray] = []
    bar = tqdm(
        total=sum(entries.values()),
        unit="ev",
        unit_scale=True,
        desc="read ntuples",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
        ascii=True,
    )

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        nonlocal next_id
        for plan in plans:
            for chunk in _read_source(plan, bar):
                n = len(chunk[WEIGHT])
                if n == 0:
                    continue
                if EVENT_ID in chunk:
                    if chunk[EVENT_ID].dtype.kind not in "iu":
                        raise NtupleError(
                            f"gives {chunk[EVENT_ID].dtype} values, not integers",
                            f"{plan.key}.event_id",
                        )
                    event_id = chunk[EVENT_ID].astype(np.int64)
                    ids.append(event_id)  # checked for uniqueness at the end
                else:  # numbered in reading order: unique by construction
                    event_id = np.arange(next_id, next_id + n, dtype=np.int64)
                next_id += n
                values = {c: chunk[c].astype(np.float64) for c in features}
                if added is not None:  # computed from the features (a DataFrame function)
                    frame = added.apply(pd.DataFrame(values))
                    values = {c: frame[c].to_numpy(dtype=np.float64) for c in columns}
                plan.counts["selected"] += n
                plan.counts["weight_sum"] += float(chunk[WEIGHT].sum())
                yield {
                    "event_id": event_id,
                    "label": np.full(n, plan.label, dtype=np.int32),
                    "weight": chunk[WEIGHT].astype(np.float64),
                    **values,
                }
            if plan.counts["selected"] == 0:
                cuts = [s.expression.text for s in plan.finals if s.name in (CUT, DATASET_CUT)]
                raise NtupleError(
                    f"no event selected from {plan.counts['read']} read "
                    f"({plan.counts['dropped_by_collections']} lack what the collection rules "
                    f"need, {plan.counts['failed_cuts']} fail the cuts {cuts})",
                    plan.key,
                )

    with bar:
        written = io.write_root_tree(
            events_path, chunks(), branch_types, title=f"{dataset}: selected ntuple events"
        )
    repeated, example = _duplicates(ids) if ids else (0, None)
    if repeated:
        os.unlink(events_path)
        keys = " and ".join(s.key for p in plans for s in p.finals if s.name == EVENT_ID)
        raise NtupleError(
            f"{repeated} event id(s) repeat across signal and background (e.g. "
            f"{example}); the ids must be unique",
            keys,
        )
    seconds = time.perf_counter() - start
    size = sum(os.path.getsize(p) for plan in plans for p in plan.files)
    return {
        "entries": written,
        "sources": {
            plan.name: {
                "files": plan.files,
                "tree": plan.tree,
                "entries": entries[plan.name],
                **plan.counts,
            }
            for plan in plans
        },
        "n_signal": plans[0].counts["selected"],
        "n_background": plans[1].counts["selected"],
        "input_bytes": size,
        "seconds": seconds,
        "megabytes_per_second": size / 1e6 / seconds,
    }


def _duplicates(chunks: list[np.ndarray]) -> tuple[int, int | None]:
    """How many event ids repeat an earlier one, and one of them (a sort and a look at
    neighbours: 8 bytes per event, and much faster than ``np.unique``)."""
    ids = np.concatenate(chunks)
    chunks.clear()
    ids.sort()
    repeats = ids[1:][ids[1:] == ids[:-1]]
    return len(repeats), (int(repeats[0]) if len(repeats) else None)


def build_features(events_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The feature table: every branch of the selected events tree, bookkeeping first, in
    event-id order (so that the splits, and what is trained on them, do not depend on the
    order of the files or of signal and background)."""
    import uproot  # here, not at import: the workflow's parse reads no file

    with uproot.open(events_path) as file:
        arrays = file[io.TREE_NAME].arrays(library="np")
    names = [*META_COLUMNS, *(n for n in arrays if n not in META_COLUMNS)]
    table = pd.DataFrame({n: arrays[n] for n in names})
    return table.sort_values("event_id", kind="stable").reset_index(drop=True)


def inputs(settings: Mapping[str, Any]) -> list[str]:
    """The files a root dataset reads (the generate rule's inputs: a changed file re-runs
    what depends on it)."""
    return [f for s in SOURCES for f in resolve_files(settings[s]["files"], f"{s}.files")]


KIND = DatasetKind(
    name="root",
    description="signal and background from the user's ROOT ntuples (uproot, chunked)",
    settings_schema=SETTINGS_SCHEMA,
    columns=(),
    produce=produce,
    build_features=build_features,
    feature_sets={},
    # the toy's axis labels where a user's columns have the toy's names
    labels=FEATURE_LABELS,
    layout=layout,
    check=check_settings,
    inputs=inputs,
    seeded=False,
    reads_user_ntuples=True,
)
