"""Configuration validation: defaults, and bad configs refused with the key named."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlhep.config import ConfigError, config_digest, load_config, load_schema, validate_config


def _walk_schema(node: dict, path: str = "") -> list[tuple[str, dict]]:
    out = []
    for name, sub in node.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        out.append((key, sub))
        out.extend(_walk_schema(sub, key))
    return out


def test_every_schema_key_has_description_and_default() -> None:
    for key, sub in _walk_schema(load_schema()):
        assert sub.get("description"), f"{key} has no description"
        assert "default" in sub, f"{key} has no default"


def test_default_config_equals_schema_defaults(repo: Path) -> None:
    shipped = load_config(repo / "config" / "config.yaml")
    empty: dict[str, Any] = {}
    validate_config(empty)
    assert shipped == empty
    assert config_digest(shipped) == config_digest(empty)


def test_every_key_is_documented_in_config_readme(repo: Path) -> None:
    readme = (repo / "config" / "README.md").read_text()
    for key, _ in _walk_schema(load_schema()):
        assert f"`{key}`" in readme, f"config/README.md does not document {key}"


def test_shipped_test_configs_are_valid(repo: Path) -> None:
    configs = sorted((repo / "config").glob("*.yaml"))
    assert len(configs) >= 2
    for path in configs:
        load_config(path)


def _set(config: dict, dotted: str, value: Any) -> dict:
    config = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = config
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return config


BASE: dict[str, Any] = {}
#: (change, the key the error must name, a fragment of the reason)
BAD_CONFIGS = [
    (("colour", "red"), "'colour': unknown key", "allowed"),
    (("datasets.dimuon.n_sgnal", 10), "'datasets.dimuon.n_sgnal': unknown key", "n_signal"),
    (("datasets.dimuon.n_signal", "many"), "'datasets.dimuon.n_signal'", "not of type 'integer'"),
    (
        ("datasets.dimuon.n_background", -5),
        "'datasets.dimuon.n_background'",
        "less than the minimum",
    ),
    (
        ("datasets.dimuon.expected_signal", 0),
        "'datasets.dimuon.expected_signal'",
        "less than or equal",
    ),
    (("splits.train", 0.7), "'splits'", "sum to 1.1"),
    (("splits.test", -0.2), "'splits.test'", "less than or equal to the minimum"),
    (("splits.validation", 1.5), "'splits.validation'", "greater than the maximum"),
    (("models.svm", {"activate": True}), "'models.svm': unknown key", "perceptron"),
    (("models.perceptron.init", "ones"), "'models.perceptron.init'", "is not one of"),
    (
        ("models.linear_bce.learning_rate", 0),
        "'models.linear_bce.learning_rate'",
        "less than or equal",
    ),
    (("models.logistic.feature_sets", ["low", "mid"]), "'models.logistic.feature_sets'", "'mid'"),
    (
        ("evaluation.confidence_level", 1.0),
        "'evaluation.confidence_level'",
        "greater than or equal",
    ),
    (
        ("lecture.perceptron_iris.epochs", 0),
        "'lecture.perceptron_iris.epochs'",
        "less than the minimum",
    ),
    (
        ("models.bayes_optimal.feature_sets", ["low", "medium"]),
        "'models.bayes_optimal.feature_sets'",
        "'medium'",
    ),
    (("features.sets.low", ["mu_minus_pt", "muon_energy"]), "'features.sets.low'", "'muon_energy'"),
    (("features.sets.empty", []), "'features.sets.empty'", "should be non-empty"),
    (("seed", 1.5), "'seed'", "not of type 'integer'"),
    (("tracking.uri", "ftp://nowhere"), "'tracking.uri'", "does not match"),
    (("datasets.dimuon.activate", "yes"), "'datasets.dimuon.activate'", "not of type 'boolean'"),
]


@pytest.mark.parametrize(
    ("change", "key", "reason"), BAD_CONFIGS, ids=[c[0][0] for c in BAD_CONFIGS]
)
def test_bad_config_is_refused_naming_the_key(
    change: tuple[str, Any], key: str, reason: str
) -> None:
    config = _set(BASE, *change)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    assert f"config key {key}" in message
    assert reason in message


def test_all_problems_are_reported_together() -> None:
    config = _set(_set(BASE, "seed", -1), "datasets.dimuon.n_signal", 0)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert "'seed'" in str(info.value) and "'datasets.dimuon.n_signal'" in str(info.value)


def test_missing_or_non_mapping_config_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)
