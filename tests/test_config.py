"""Configuration validation: defaults, and bad configs refused with the key named."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlhep.config import ConfigError, load_config, load_schema, validate_config
from mlhep.data import KINDS, get_kind
from mlhep.models import MODELS


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


def test_every_key_is_documented_in_config_readme(repo: Path) -> None:
    readme = (repo / "config" / "README.md").read_text()
    for key, _ in _walk_schema(load_schema()):
        assert f"`{key}`" in readme, f"config/README.md does not document {key}"
    generic = load_schema()["properties"]["datasets"]["additionalProperties"]["properties"]
    for key in generic:
        assert f"`datasets.<name>.{key}`" in readme, f"config/README.md does not document {key}"
    for kind in KINDS:
        for key, sub in get_kind(kind).settings_schema.items():
            assert sub.get("description") and "default" in sub, (kind, key)
            assert f"`datasets.{kind}.{key}`" in readme, f"config/README.md lacks {kind}.{key}"


def test_nested_override_strings_are_read_as_yaml_scalars() -> None:
    # what `snakemake --config 'evaluation={bootstrap_resamples: 50}'` hands over
    config = {
        "evaluation": {"bootstrap_resamples": "50", "confidence_level": "0.9"},
        "datasets": {"dimuon": {"n_signal": "1000", "activate": "true"}},
        "models": {"hist_gbdt": {"max_depth": "null"}},
        "tracking": {"experiment_prefix": "42"},
    }
    validate_config(config)
    assert config["evaluation"] == {
        "bootstrap_resamples": 50,
        "confidence_level": 0.9,
        "ams_regularisation": 10,
        "calibration": ["isotonic", "platt", "temperature"],
        "regression": {
            "amplitude_bins": [2, 5, 10, 20, 50, 100, 200],
            "phase_bins": 10,
            "phase_min_amplitude": 10,
            "posterior_mean": True,
            "phase_bias_max_amplitude": 20,
        },
    }
    assert config["datasets"]["dimuon"]["n_signal"] == 1000
    assert config["datasets"]["dimuon"]["activate"] is True
    assert config["models"]["hist_gbdt"]["max_depth"] is None
    assert config["tracking"]["experiment_prefix"] == "42"  # a string where one is wanted
    with pytest.raises(ConfigError, match=r"'evaluation\.bootstrap_resamples'"):
        validate_config({"evaluation": {"bootstrap_resamples": "many"}})
    with pytest.raises(ConfigError, match=r"'evaluation\.bootstrap_resamples'"):
        validate_config({"evaluation": {"bootstrap_resamples": "true"}})


def test_dataset_defaults_come_from_its_kind() -> None:
    config: dict[str, Any] = {"datasets": {"small": {"kind": "dimuon", "n_signal": 10}}}
    validate_config(config)
    small = config["datasets"]["small"]
    kind = get_kind("dimuon")
    assert small["feature_sets"] == {k: list(v) for k, v in kind.feature_sets.items()}
    assert small["limit"] == ["low", "high", "all", "angle"]
    assert small["models"]["decision_tree"] == ["high"]
    assert set(small["models"]) == {m for m, e in MODELS.items() if e.kind == "classifier"}
    assert small["n_background"] == 333333


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
    (
        ("datasets.dimuon.models", {"logistic": ["low", "mid"]}),
        "'datasets.dimuon.models.logistic'",
        "'mid'",
    ),
    (("datasets.dimuon.models", {"svm": ["low"]}), "'datasets.dimuon.models.svm'", "unknown model"),
    (("datasets.dimuon.kind", "ntuple"), "'datasets.dimuon.kind'", "unknown dataset kind"),
    (
        ("datasets.dimuon", {"feature_sets": {"pair": ["m_mumu", "delta_r"]}, "limit": ["pair"]}),
        "'datasets.dimuon.limit'",
        "no exact Bayes limit",
    ),
    (  # two of the four pair variables: acceptance couples them, no exact limit computed
        ("datasets.dimuon", {"feature_sets": {"pair": ["m_mumu", "pt_mumu"]}, "limit": ["pair"]}),
        "'datasets.dimuon.limit'",
        "no exact Bayes limit",
    ),
    (
        ("evaluation.calibration", ["isotonic", "beta"]),
        "'evaluation.calibration",
        "'beta'",
    ),
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
    (("datasets.dimuon.limit", ["low", "medium"]), "'datasets.dimuon.limit'", "'medium'"),
    (
        ("datasets.dimuon.feature_sets", {"low": ["mu_minus_pt", "muon_energy"]}),
        "'datasets.dimuon.feature_sets.low'",
        "'muon_energy'",
    ),
    (
        ("datasets.dimuon.feature_sets", {"empty": []}),
        "'datasets.dimuon.feature_sets.empty'",
        "should be non-empty",
    ),
    (("seed", 1.5), "'seed'", "not of type 'integer'"),
    (("tracking.uri", "ftp://nowhere"), "'tracking.uri'", "does not match"),
    (("datasets.dimuon.activate", "maybe"), "'datasets.dimuon.activate'", "not of type 'boolean'"),
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


#: Errors that need several keys at once: (changes, the key the error must name, a
#: fragment of the reason); each written from the message a user should see.
BAD_COMBINATIONS = [
    (  # an ensemble on a feature set that no dataset has
        {"studies.ensemble.feature_set": "pair"},
        "'studies.ensemble.feature_set'",
        "no active dataset has the feature set 'pair'",
    ),
    (
        {"studies.z_peak.window": [120.0, 60.0]},
        "'studies.z_peak.window'",
        "needs low < high, got [120.0, 60.0]",
    ),
    (
        {"studies.z_peak.dataset": "zmumu"},
        "'studies.z_peak.dataset'",
        "no dataset 'zmumu'",
    ),
    (  # the toy has no dimuon mass column named like this
        {"studies.z_peak.dataset": "dimuon", "studies.z_peak.column": "mass"},
        "'studies.z_peak.column'",
        "dataset 'dimuon' has no column 'mass'",
    ),
    (  # a dataset may not take the generalization studies' experiment name
        {"datasets.generalization": {"kind": "dimuon"}},
        "'datasets.generalization'",
        "the name is taken by the MLflow experiment",
    ),
    (  # a generated dataset needs the stage that trains its generator
        {
            "generative.activate": False,
            "datasets.dimuon_gan": {"kind": "generated", "generator": "gan_blind"},
        },
        "'datasets.dimuon_gan.generator'",
        "the generative stage is off",
    ),
    (
        {"generative.train_on_synthetic.models": ["bdt", "pulse_mlp"]},
        "'generative.train_on_synthetic.models'",
        "'pulse_mlp' is not a classifier",
    ),
    (
        {"generative.train_on_synthetic.features": "pair"},
        "'generative.train_on_synthetic.features'",
        "dataset 'dimuon' has no feature set 'pair'",
    ),
    (  # the ablation changes a GAN's options: of generators the stage has ...
        {"generative.ablation": {"activate": True, "generators": ["gan_phys"]}},
        "'generative.ablation.generators'",
        "no generator 'gan_phys'",
    ),
    (  # ... and that are GANs
        {"generative.ablation": {"activate": True, "generators": ["flow"]}},
        "'generative.ablation.generators'",
        "generator 'flow' is a flow; the ablated options are a GAN's",
    ),
    (  # pulses have a bound, not an exact classification limit
        {"datasets.pulse.limit": ["samples"]},
        "'datasets.pulse.limit'",
        "kind 'pulse' has no exact limit",
    ),
    (  # the generalization studies classify
        {"studies.generalization.dataset": "pulse"},
        "'studies.generalization.dataset'",
        "'pulse' is a regression dataset",
    ),
]


@pytest.mark.parametrize(
    ("changes", "key", "reason"),
    BAD_COMBINATIONS,
    ids=[next(iter(c[0])) for c in BAD_COMBINATIONS],
)
def test_inconsistent_config_is_refused_naming_the_key(
    changes: dict[str, Any], key: str, reason: str
) -> None:
    config: dict[str, Any] = {}
    for dotted, value in changes.items():
        config = _set(config, dotted, value)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    assert f"config key {key}" in message, message
    assert reason in message, message
