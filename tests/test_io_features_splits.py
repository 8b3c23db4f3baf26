"""ROOT and parquet I/O, atomic writes, feature engineering and the splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot

from mlhep import io
from mlhep.data.dimuon import KIND as DIMUON
from mlhep.data.dimuon.features import ALL_FEATURES, HIGH_LEVEL_FEATURES, bayes_latents, engineer
from mlhep.data.dimuon.generate import DIMUON_BRANCHES, build_features, generate_dimuon
from mlhep.data.dimuon.physics import LOW_LEVEL_FEATURES
from mlhep.evaluation.limit import limit_auc
from mlhep.features.splits import SPLIT_NAMES, ids_digest, make_splits, split_indices


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("data") / "events.root"
    record = generate_dimuon(path, 6000, 9000, 1000.0, 100000.0, seed=3, progress=False)
    return path, record


def test_events_file_is_a_ttree_with_every_branch(events_file) -> None:
    path, record = events_file
    with uproot.open(path) as f:
        tree = f["events"]
        assert isinstance(tree, uproot.TTree)
        assert tree.classname == "TTree"
        assert tree.num_entries == 15000 == record["entries"]
        assert set(tree.keys()) == set(DIMUON_BRANCHES)
        arrays = tree.arrays(library="np")
    assert arrays["mu_minus_pt"].dtype == np.float64
    assert arrays["n_jets"].dtype == np.int32
    assert (arrays["label"] == 1).sum() == 6000
    np.testing.assert_allclose(arrays["weight"][arrays["label"] == 1].sum(), 1000.0)
    np.testing.assert_allclose(arrays["weight"][arrays["label"] == 0].sum(), 100000.0)
    assert 0.5 < record["acceptance_background"] < record["acceptance_signal"] < 1.0
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "events.root"

    def chunks():
        yield {name: np.zeros(3, dtype) for name, dtype in DIMUON_BRANCHES.items()}
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError, match="half way"):
        io.write_root_tree(target, chunks(), DIMUON_BRANCHES)
    assert list(tmp_path.iterdir()) == []


def test_read_root_tree_errors_name_the_file(events_file, tmp_path: Path) -> None:
    path, _ = events_file
    with pytest.raises(KeyError, match="no object 'nope'"):
        io.read_root_tree(path, tree="nope")
    with pytest.raises(KeyError, match=r"lacks branch\(es\) \['x'\]"):
        io.read_root_tree(path, ["x"])


def test_features_have_low_and_high_columns(events_file) -> None:
    path, _ = events_file
    table = build_features(path)
    assert list(table.columns) == ["event_id", "label", "weight", *ALL_FEATURES]
    assert ((table["m_mumu"] >= 100) & (table["m_mumu"] <= 150)).all()
    assert ((table["delta_phi"] >= 0) & (table["delta_phi"] <= np.pi)).all()
    assert (np.abs(table["cos_theta_star"]) <= 1).all()
    np.testing.assert_allclose(table["delta_r"], np.hypot(table["delta_eta"], table["delta_phi"]))
    with pytest.raises(KeyError, match="missing column"):
        engineer(table[["n_jets"]])


def test_feature_set_selection_and_bayes_latents() -> None:
    assert bayes_latents(LOW_LEVEL_FEATURES) == ("m", "pt", "y", "cos_theta", "n_jets")
    assert bayes_latents(ALL_FEATURES) == ("m", "pt", "y", "cos_theta", "n_jets")
    assert bayes_latents(HIGH_LEVEL_FEATURES) == ("m", "pt", "y", "cos_theta")
    assert bayes_latents(["m_mumu", "met"]) == ("m",)
    with pytest.raises(ValueError, match="no exact Bayes limit"):
        bayes_latents(["m_mumu", "delta_r"])
    with pytest.raises(ValueError, match="unknown feature column"):
        bayes_latents(["m_mumu", "bogus"])


def test_bayes_limit_orders_feature_sets(events_file) -> None:
    table = build_features(events_file[0])
    full = limit_auc(DIMUON.limit, table, list(LOW_LEVEL_FEATURES))
    high = limit_auc(DIMUON.limit, table, list(HIGH_LEVEL_FEATURES))
    mass = limit_auc(DIMUON.limit, table, ["m_mumu"])
    assert 0.85 < full["auc"] < 0.95
    assert full["auc"] > high["auc"] > mass["auc"] > 0.7


FRACTIONS = {"train": 0.6, "validation": 0.25, "test": 0.15}


def _table(n: int = 10_001, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.3).astype(np.int32)
    return pd.DataFrame(
        {
            "event_id": np.arange(n) * 3 + 7,
            "label": label,
            "weight": np.where(label == 1, 0.1, 10.0),
        }
    )


def test_splits_are_disjoint_complete_stratified_and_seeded() -> None:
    table = _table()
    index = split_indices(table["label"].to_numpy(), FRACTIONS, seed=1)
    all_rows = np.concatenate(list(index.values()))
    assert len(all_rows) == len(table) == len(np.unique(all_rows))
    frac_signal = table["label"].mean()
    for name in SPLIT_NAMES:
        labels = table["label"].to_numpy()[index[name]]
        assert len(labels) == pytest.approx(FRACTIONS[name] * len(table), abs=2)
        assert labels.mean() == pytest.approx(frac_signal, abs=2 / len(labels))
    again = split_indices(table["label"].to_numpy(), FRACTIONS, seed=1)
    other = split_indices(table["label"].to_numpy(), FRACTIONS, seed=2)
    assert all(np.array_equal(index[n], again[n]) for n in SPLIT_NAMES)
    assert not np.array_equal(index["test"], other["test"])


def test_make_splits_records_hashes_and_rescales_weights() -> None:
    table = _table()
    parts, record = make_splits(table, FRACTIONS, seed=4)
    total_signal = table.loc[table.label == 1, "weight"].sum()
    total_background = table.loc[table.label == 0, "weight"].sum()
    ids = [set(parts[n]["event_id"]) for n in SPLIT_NAMES]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    for name, part in parts.items():
        rec = record[name]
        assert rec["n_events"] == len(part) == rec["n_signal"] + rec["n_background"]
        assert rec["event_ids_sha256"] == ids_digest(part["event_id"].to_numpy())
        assert rec["sum_weight_signal"] == pytest.approx(total_signal)
        assert rec["sum_weight_background"] == pytest.approx(total_background)
    assert len({record[n]["event_ids_sha256"] for n in SPLIT_NAMES}) == 3


@pytest.mark.parametrize(
    ("fractions", "error"),
    [
        ({"train": 0.5, "validation": 0.2, "test": 0.2}, ValueError),
        ({"train": 0.8, "test": 0.2}, KeyError),
    ],
)
def test_bad_fractions_are_refused(fractions: dict, error: type) -> None:
    with pytest.raises(error):
        split_indices(np.zeros(10), fractions, seed=0)
