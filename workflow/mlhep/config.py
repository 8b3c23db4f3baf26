"""Configuration: JSON-schema validation with defaults filled in, plus the checks a schema
cannot express (split fractions summing to 1, each dataset against its kind's plug-in,
feature sets naming the kind's columns, exact limits only where they exist, models naming
configured feature sets). Every error names the offending key. String leaves of
``--config`` overrides are read as YAML scalars first.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, MutableMapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mlhep.data import KINDS, get_kind
from mlhep.models import MODELS

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid configuration; the message lists every problem with its key."""


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """The configuration schema (YAML)."""
    return yaml.safe_load(path.read_text())


def _with_defaults(validator_class: type) -> type:
    """A validator class that also fills in ``default`` values (jsonschema's FAQ recipe)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema) -> Iterator:  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _key(path: Any) -> str:
    """Dotted config key of a jsonschema error path ('<top level>' for the root)."""
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _schema_errors(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Messages for every schema violation, each starting with the key."""
    messages = []
    for error in sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.path)):
        key = _key(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            extra = sorted(set(error.instance) - set(allowed))
            for name in extra:
                full = f"{key}.{name}" if key != "<top level>" else name
                messages.append(f"config key '{full}': unknown key (allowed here: {allowed})")
        else:
            messages.append(f"config key '{key}': {error.message}")
    return messages


def _coerce_strings(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Parse string leaves as YAML scalars where the schema wants another type.

    ``snakemake --config 'evaluation={bootstrap_resamples: 50}'`` hands nested values over
    as strings; a string where the schema asks for a number, an integer, a boolean or null
    is replaced by its YAML value when that has a wanted type. Strings the schema wants stay.
    """
    for _ in range(100):  # each pass fixes every leaf it finds; nested ones may need more
        changed = False
        for error in _Validator(schema).iter_errors(config):
            if error.validator != "type" or not isinstance(error.instance, str):
                continue
            wanted = error.validator_value
            wanted = [wanted] if isinstance(wanted, str) else list(wanted)
            try:
                value = yaml.safe_load(error.instance)
            except yaml.YAMLError:
                continue
            types = {"integer": int, "number": (int, float), "boolean": bool, "null": type(None)}
            ok = any(
                isinstance(value, types[w]) and not (w != "boolean" and isinstance(value, bool))
                for w in wanted
                if w in types
            )
            if ok and error.absolute_path:
                *parents, leaf = error.absolute_path
                node: Any = config
                for key in parents:
                    node = node[key]
                node[leaf] = value
                changed = True
        if not changed:
            return


def dataset_kind(name: str, settings: Mapping[str, Any]) -> str:
    """The kind of a configured dataset: its ``kind`` key, by default its name."""
    return str(settings.get("kind", name))


#: Keys every dataset has whatever its kind (the generic part of the schema).
GENERIC_DATASET_KEYS = ("kind", "activate", "feature_sets", "limit", "models")


def _dataset_schema_errors(name: str, settings: MutableMapping[str, Any]) -> list[str]:
    """Validate one dataset's keys against its kind's plug-in, filling in its defaults."""
    key = f"datasets.{name}"
    kind_name = dataset_kind(name, settings)
    if kind_name not in KINDS:
        return [
            f"config key '{key}.kind': unknown dataset kind {kind_name!r} (known: {sorted(KINDS)})"
        ]
    kind = get_kind(kind_name)
    settings["kind"] = kind_name
    schema = {
        "type": "object",
        "properties": {**{k: {} for k in GENERIC_DATASET_KEYS}, **kind.settings_schema},
        "additionalProperties": False,
    }
    _coerce_strings(settings, schema)
    return [
        m.replace("config key '", f"config key '{key}.", 1).replace(f"{key}.<top level>", key)
        for m in _schema_errors(settings, schema)
    ]


def _dataset_errors(name: str, settings: MutableMapping[str, Any]) -> list[str]:
    """Check one (schema-valid) dataset against its kind: feature columns, exact limits,
    models; fill in its feature sets, limits and models where the config has none."""
    key = f"datasets.{name}"
    kind_name = settings["kind"]
    kind = get_kind(kind_name)
    problems = kind.check(settings) if kind.check else []
    messages = [f"config key '{key}.{name}': {problem}" for name, problem in problems]
    if messages:
        return messages
    sets = settings.setdefault("feature_sets", kind.feature_sets_for(settings))
    known = kind.columns_for(settings)
    for set_name, columns in sets.items():
        unknown = [c for c in columns if c not in known]
        if unknown:
            messages.append(
                f"config key '{key}.feature_sets.{set_name}': unknown column(s) {unknown} "
                f"(known: {list(known)})"
            )
    if messages:
        return messages
    if "limit" not in settings:
        settings["limit"] = [s for s, cols in sets.items() if kind.limit_available(cols)]
    for set_name in settings["limit"]:
        if set_name not in sets:
            messages.append(
                f"config key '{key}.limit': unknown feature set {set_name!r} "
                f"(configured under {key}.feature_sets: {sorted(sets)})"
            )
        elif kind.limit is None:
            messages.append(f"config key '{key}.limit': kind {kind_name!r} has no exact limit")
        else:
            try:
                kind.limit.check(sets[set_name])
            except ValueError as exc:
                messages.append(f"config key '{key}.limit': {set_name!r}: {exc}")
    if "models" not in settings:
        defaults = kind.default_models or {
            m: list(sets) for m, entry in MODELS.items() if entry.kind == kind.model_kind
        }
        settings["models"] = {
            m: [f for f in fs if f in sets] for m, fs in defaults.items() if m in MODELS
        }
    models = settings["models"]
    for model, model_sets in models.items():
        if model not in MODELS:
            messages.append(
                f"config key '{key}.models.{model}': unknown model (known: {sorted(MODELS)})"
            )
        elif MODELS[model].kind != kind.model_kind:
            fitting = sorted(m for m, e in MODELS.items() if e.kind == kind.model_kind)
            messages.append(
                f"config key '{key}.models.{model}': a {MODELS[model].kind} cannot train on a "
                f"{kind.task} dataset of kind {kind_name!r} (its models: {fitting})"
            )
        for set_name in model_sets:
            if set_name not in sets:
                messages.append(
                    f"config key '{key}.models.{model}': unknown feature set {set_name!r} "
                    f"(configured under {key}.feature_sets: {sorted(sets)})"
                )
    return messages


def _semantic_errors(config: MutableMapping[str, Any]) -> list[str]:
    """Checks beyond the schema (run only once the schema holds)."""
    messages = []
    splits = config["splits"]
    total = math.fsum(splits.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        messages.append(
            f"config key 'splits': fractions train + validation + test sum to {total:g}, not 1"
        )
    bins = config["evaluation"]["regression"]["amplitude_bins"]
    if any(hi <= lo for lo, hi in pairwise(bins)):
        messages.append(
            f"config key 'evaluation.regression.amplitude_bins': the edges must "
            f"increase, got {bins}"
        )
    for name, settings in config["datasets"].items():
        messages += _dataset_errors(name, settings)
    if messages:
        return messages
    ensemble = config["studies"]["ensemble"]
    active = {
        n: d
        for n, d in config["datasets"].items()
        if d["activate"] and get_kind(d["kind"]).task == "classification"
    }
    wanted = ensemble["activate"] and active and config["models"]["ann"]["activate"]
    if wanted and not any(ensemble["feature_set"] in d["feature_sets"] for d in active.values()):
        messages.append(
            f"config key 'studies.ensemble.feature_set': no active dataset has the feature "
            f"set {ensemble['feature_set']!r}"
        )
    return (
        messages
        + _generalization_errors(config)
        + _z_peak_errors(config)
        + _generative_errors(config)
    )


def generative_dataset(config: Mapping[str, Any]) -> str | None:
    """The dataset the generators learn: ``generative.dataset`` or the first active dimuon
    dataset (``None`` if there is none)."""
    name = config["generative"]["dataset"]
    if name is not None:
        return str(name)
    return next(
        (n for n, d in config["datasets"].items() if d["activate"] and d["kind"] == "dimuon"), None
    )


def _generative_errors(config: Mapping[str, Any]) -> list[str]:
    """The generative stage's dataset, generators and train-on-synthetic models; datasets
    of kind ``generated`` naming generators of the stage."""
    section, key = config["generative"], "config key 'generative"
    messages = []
    name = generative_dataset(config) if section["activate"] else None
    dataset = config["datasets"].get(name) if name is not None else None
    learnt = dataset is not None and dataset["kind"] == "dimuon" and dataset["activate"]
    for gen_dataset, settings in config["datasets"].items():
        if settings["kind"] != "generated" or not settings["activate"]:
            continue
        where = f"config key 'datasets.{gen_dataset}.generator'"
        generator = section["generators"].get(settings["generator"])
        if not section["activate"]:
            messages.append(f"{where}: the generative stage is off (generative.activate)")
        elif generator is None:
            messages.append(
                f"{where}: no generator {settings['generator']!r} "
                f"(generative.generators: {sorted(section['generators'])})"
            )
        elif not config["models"][generator["model"]]["activate"]:
            messages.append(
                f"{where}: generator {settings['generator']!r} is not trained "
                f"(models.{generator['model']}.activate is false)"
            )
        elif not learnt:
            messages.append(
                f"{where}: generator {settings['generator']!r} is not trained "
                f"(its dataset {name!r} is not an active dimuon dataset)"
            )
    if not section["activate"] or name is None:  # no dimuon dataset: the stage is off
        return messages
    if dataset is None or dataset["kind"] != "dimuon":
        messages.append(
            f"{key}.dataset': the generators learn a dimuon dataset (exact physics "
            f"to judge them by); got {name!r}"
        )
        return messages
    for gen_name, entry in section["generators"].items():
        model = config["models"][entry["model"]]
        unknown = sorted(set(entry) - {"model", "critic"} - set(model))
        if unknown:
            messages.append(
                f"{key}.generators.{gen_name}': unknown key(s) {unknown} (the "
                f"hyper-parameters of models.{entry['model']}: {sorted(model)})"
            )
    tstr = section["train_on_synthetic"]
    for model in tstr["models"]:
        if model not in MODELS or MODELS[model].kind != "classifier":
            messages.append(
                f"{key}.train_on_synthetic.models': {model!r} is not a classifier of models.<name>"
            )
    if tstr["features"] not in dataset["feature_sets"]:
        messages.append(
            f"{key}.train_on_synthetic.features': dataset {name!r} has no feature "
            f"set {tstr['features']!r} (it has {sorted(dataset['feature_sets'])})"
        )
    return messages


def _z_peak_errors(config: Mapping[str, Any]) -> list[str]:
    """The Z-peak fit's dataset, column and window."""
    section, key = config["studies"]["z_peak"], "config key 'studies.z_peak"
    if not section["activate"]:
        return []
    messages = []
    lo, hi = section["window"]
    if not hi > lo:
        messages.append(f"{key}.window': needs low < high, got {[lo, hi]}")
    name = section["dataset"]
    if name is not None:
        dataset = config["datasets"].get(name)
        if dataset is None:
            messages.append(
                f"{key}.dataset': no dataset {name!r} (datasets: {sorted(config['datasets'])})"
            )
        elif section["column"] not in get_kind(dataset["kind"]).columns_for(dataset):
            messages.append(f"{key}.column': dataset {name!r} has no column {section['column']!r}")
    return messages


def _generalization_errors(config: Mapping[str, Any]) -> list[str]:
    """The generalization studies' dataset, feature sets, models and grids."""
    from mlhep.studies.generalization import STUDIES, grid_points

    section = config["studies"]["generalization"]
    if not section["activate"]:
        return []
    messages = []
    key = "config key 'studies.generalization"
    if "generalization" in config["datasets"]:
        messages.append(
            "config key 'datasets.generalization': the name is taken by the "
            "MLflow experiment of the generalization studies"
        )
    name = section["dataset"]
    if name is None:  # the first active classification dataset
        name = next(
            (
                n
                for n, d in config["datasets"].items()
                if d["activate"] and get_kind(d["kind"]).task == "classification"
            ),
            None,
        )
    dataset = config["datasets"].get(name) if name is not None else None
    wanted = [s for s, e in STUDIES.items() if e.data == "dataset" and section[s]["activate"]]
    if wanted and section["dataset"] is not None and dataset is None:
        messages.append(
            f"{key}.dataset': no dataset {name!r} (studies {wanted} need one; "
            f"datasets: {sorted(config['datasets'])})"
        )
    for study, entry in STUDIES.items():
        settings = section[study]
        if not settings["activate"]:
            continue
        try:
            grid_points(study, settings)
        except ValueError as error:
            messages.append(str(error))
        if entry.data != "dataset" or dataset is None or not dataset["activate"]:
            continue
        if get_kind(dataset["kind"]).task != "classification":
            messages.append(
                f"{key}.dataset': {name!r} is a {get_kind(dataset['kind']).task} "
                f"dataset; the studies {wanted} need a classification one"
            )
            break
        if "features" in settings and settings["features"] not in dataset["feature_sets"]:
            messages.append(
                f"{key}.{study}.features': dataset {name!r} has no feature set "
                f"{settings['features']!r} (it has {sorted(dataset['feature_sets'])})"
            )
        for model in settings.get("model", []):
            if model not in MODELS or MODELS[model].kind != "classifier":
                messages.append(
                    f"{key}.{study}.model': {model!r} is not a classifier of "
                    f"models.<name> ({sorted(MODELS)})"
                )
    return messages


def validate_config(
    config: MutableMapping[str, Any], schema: Mapping[str, Any] | None = None
) -> None:
    """Validate ``config`` in place, filling in defaults; raise :class:`ConfigError` listing
    every problem, each with its key, before any job starts."""
    schema = load_schema() if schema is None else schema
    _coerce_strings(config, schema)
    messages = _schema_errors(config, schema)
    datasets = config.get("datasets")
    if isinstance(datasets, dict):
        for name, settings in datasets.items():
            if isinstance(settings, dict):
                messages += _dataset_schema_errors(name, settings)
    if not messages:
        messages = _semantic_errors(config)
    if messages:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(messages))


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config and validate it (defaults filled in)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    config = yaml.safe_load(path.read_text()) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys to values")
    validate_config(config)
    return config
