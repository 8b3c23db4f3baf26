"""Configuration: JSON-schema validation with defaults filled in, plus the checks a schema
cannot express (split fractions summing to 1, feature sets naming known columns, models
naming configured feature sets). Every error names the offending key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mlhep.data.dimuon.features import ALL_FEATURES, bayes_latents

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


def _semantic_errors(config: Mapping[str, Any]) -> list[str]:
    """Checks beyond the schema (run only once the schema holds)."""
    messages = []
    splits = config["splits"]
    total = math.fsum(splits.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        messages.append(
            f"config key 'splits': fractions train + validation + test sum to {total:g}, not 1"
        )
    sets = config["features"]["sets"]
    for name, columns in sets.items():
        unknown = [c for c in columns if c not in ALL_FEATURES]
        if unknown:
            messages.append(
                f"config key 'features.sets.{name}': unknown column(s) {unknown} "
                f"(known: {list(ALL_FEATURES)})"
            )
    for model, settings in config["models"].items():
        for fs in settings.get("feature_sets", []):
            if fs not in sets:
                messages.append(
                    f"config key 'models.{model}.feature_sets': unknown feature set {fs!r} "
                    f"(configured under features.sets: {sorted(sets)})"
                )
    ensemble = config["studies"]["ensemble"]
    if ensemble["activate"] and ensemble["feature_set"] not in sets:
        messages.append(
            f"config key 'studies.ensemble.feature_set': unknown feature set "
            f"{ensemble['feature_set']!r} (configured under features.sets: {sorted(sets)})"
        )
    bayes = config["models"]["bayes_optimal"]
    if bayes["activate"]:
        for fs in bayes["feature_sets"]:
            # sets with unknown columns are reported above; their limit is not defined
            if fs in sets and set(sets[fs]) <= set(ALL_FEATURES):
                try:
                    bayes_latents(sets[fs])
                except ValueError as exc:
                    messages.append(
                        f"config key 'models.bayes_optimal.feature_sets': {fs!r}: {exc}"
                    )
    return messages


def validate_config(
    config: MutableMapping[str, Any], schema: Mapping[str, Any] | None = None
) -> None:
    """Validate ``config`` in place, filling in defaults; raise :class:`ConfigError` listing
    every problem, each with its key, before any job starts."""
    schema = load_schema() if schema is None else schema
    messages = _schema_errors(config, schema)
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


def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the (validated) configuration."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
