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
        unknown = sorted(set(defaults) - set(MODELS))
        if unknown:  # a plug-in names its default models by string: say which are wrong
            return [
                f"config key '{key}.models': dataset kind {kind_name!r} names default "
                f"model(s) {unknown} that are not in the model registry (known: "
                f"{sorted(MODELS)}); set {key}.models"
            ]
        settings["models"] = {m: [f for f in fs if f in sets] for m, fs in defaults.items()}
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
    """Checks beyond the schema (run only once the schema holds): the splits, each dataset
    against its kind, then every stage's own checks (:meth:`mlhep.stages.Stage.errors`)."""
    from mlhep.plan import Plan

    messages = []
    splits = config["splits"]
    total = math.fsum(splits.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        messages.append(
            f"config key 'splits': fractions train + validation + test sum to {total:g}, not 1"
        )
    for name, settings in config["datasets"].items():
        messages += _dataset_errors(name, settings)
    if messages:
        return messages
    return [message for stage in Plan(config).stages.values() for message in stage.errors()]


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
