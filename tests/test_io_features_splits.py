"""ROOT and parquet I/O, atomic writes, feature engineering, the exact limit of each
feature set (acceptance-corrected where needed) and the splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
from scipy import stats
from sklearn.metrics import roc_auc_score

from mlhep import io
from mlhep.data.dimuon import KIND as DIMUON
from mlhep.data.dimuon import acceptance as acc
from mlhep.data.dimuon.features import (
    ALL_FEATURES,
    HIGH_LEVEL_FEATURES,
    bayes_latents,
    bayes_scores,
    engineer,
)
from mlhep.data.dimuon.generate import DIMUON_BRANCHES, build_features, generate_dimuon
from mlhep.data.dimuon.physics import (
    INFORMATIVE_LATENTS,
    LOW_LEVEL_FEATURES,
    bayes_log_likelihood_ratio,
    generate_accepted,
    log_pdf_latent,
)
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
    pair = ("m", "pt", "y", "cos_theta")
    assert bayes_latents(LOW_LEVEL_FEATURES) == (*pair, "n_jets")
    assert bayes_latents(ALL_FEATURES) == (*pair, "n_jets")
    assert bayes_latents(HIGH_LEVEL_FEATURES) == pair
    assert bayes_latents(["m_mumu", "pt_mumu", "y_mumu", "cos_theta_star", "met"]) == pair
    # one pair latent: exact, with the acceptance profile (test_bayes_scores_per_case)
    assert bayes_latents(["m_mumu", "met"]) == ("m",)
    assert bayes_latents(["cos_theta_star"]) == ("cos_theta",)
    assert bayes_latents(["m_mumu", "n_jets", "met"]) == ("m", "n_jets")
    assert bayes_latents(["n_jets", "met", "met_phi"]) == ("n_jets",)
    with pytest.raises(ValueError, match="no exact Bayes limit"):
        bayes_latents(["m_mumu", "delta_r"])
    with pytest.raises(ValueError, match="unknown feature column"):
        bayes_latents(["m_mumu", "bogus"])


def test_bayes_limit_orders_feature_sets(events_file) -> None:
    table = build_features(events_file[0])

    def auc(columns: list[str]) -> float:
        scores = DIMUON.limit.scores(table, columns)
        return float(roc_auc_score(table["label"], scores, sample_weight=table["weight"]))

    full, high = auc(list(LOW_LEVEL_FEATURES)), auc(list(HIGH_LEVEL_FEATURES))
    assert 0.85 < full < 0.95
    assert full > high > auc(["m_mumu"]) > 0.7


@pytest.mark.parametrize(
    "columns",
    [
        ["m_mumu", "pt_mumu"],
        ["m_mumu", "pt_mumu", "y_mumu", "n_jets"],
        ["y_mumu", "cos_theta_star"],
    ],
)
def test_two_or_three_pair_latents_have_no_exact_limit(columns: list[str]) -> None:
    """The acceptance couples the pair latents: their joint accepted density would need the
    acceptance integrated over the missing ones, which is not computed."""
    with pytest.raises(ValueError, match=r"no exact Bayes limit: .* pair latents .* but not"):
        bayes_latents(columns)
    assert not DIMUON.limit_available(columns)
    assert DIMUON.limit_available(columns[:1])


N_ACCEPTED = 300_000  # accepted events per class


@pytest.fixture(scope="module")
def accepted_sample() -> pd.DataFrame:
    """Equal numbers of accepted signal and background events, with every feature column."""
    rng = np.random.default_rng(7)
    parts = []
    for signal in (True, False):
        lat, muons, _ = generate_accepted(rng, N_ACCEPTED, signal)
        extra = {"n_jets": lat.n_jets, "met": lat.met, "met_phi": lat.met_phi}
        parts.append(pd.DataFrame({**muons, **extra, "label": int(signal)}))
    return engineer(pd.concat(parts, ignore_index=True))


def _generation_llr(frame: pd.DataFrame, latents: tuple[str, ...]) -> np.ndarray:
    obs = {c: frame[c].to_numpy() for c in LOW_LEVEL_FEATURES}
    return bayes_log_likelihood_ratio(obs, latents)


def test_bayes_scores_per_case(accepted_sample: pd.DataFrame) -> None:
    """All four pair latents: generation ratio + log(eff_B / eff_S); one: corrected by the
    acceptance profiles; none: the generation ratio."""
    frame = accepted_sample.iloc[::100]
    norm = np.log(acc.ACCEPTANCE_BACKGROUND / acc.ACCEPTANCE_SIGNAL)
    full = _generation_llr(frame, INFORMATIVE_LATENTS)
    np.testing.assert_allclose(bayes_scores(frame, LOW_LEVEL_FEATURES), full + norm, rtol=1e-12)
    m = frame["m_mumu"].to_numpy()
    profile = np.log(acc.acceptance_profile("m", True)(m) / acc.acceptance_profile("m", False)(m))
    np.testing.assert_allclose(
        bayes_scores(frame, ["m_mumu", "n_jets", "met"]),
        _generation_llr(frame, ("m", "n_jets")) + profile + norm,
        rtol=1e-9,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        bayes_scores(frame, ["n_jets", "met_phi"]), _generation_llr(frame, ("n_jets",))
    )


def _auc_sigma(n_signal: int, n_background: int) -> float:
    """Standard error of a ROC AUC near 0.5: sqrt((1 / n_S + 1 / n_B) / 12)."""
    return float(np.sqrt((1.0 / n_signal + 1.0 / n_background) / 12.0))


def _exact_auc_one_latent(score: np.ndarray, grid: np.ndarray) -> float:
    """AUC of an even score of cos theta*, from the accepted densities p_c A_c on |c|."""
    mass = {}
    for signal in (True, False):
        dens = np.exp(log_pdf_latent("cos_theta", grid, signal))
        dens *= acc.acceptance_profile("cos_theta", signal)(grid)
        mass[signal] = dens / dens.sum()
    order = np.argsort(score)
    s, b = mass[True][order], mass[False][order]
    return float((s * (np.cumsum(b) - b / 2.0)).sum())


def test_cos_theta_limit_is_corrected_for_acceptance(accepted_sample: pd.DataFrame) -> None:
    """Alone, cos theta* carries more than its generation ratio says: the acceptance
    depends on it differently in each class. Exact AUCs (the accepted densities integrated
    on a grid): 0.5339 for the generation ratio, 0.5423 for the corrected one."""
    label = accepted_sample["label"].to_numpy()
    corrected = roc_auc_score(label, bayes_scores(accepted_sample, ["cos_theta_star"]))
    generation = roc_auc_score(label, _generation_llr(accepted_sample, ("cos_theta",)))
    grid = np.linspace(0.0, 1.0, 100_001)
    gen_term = log_pdf_latent("cos_theta", grid, True) - log_pdf_latent("cos_theta", grid, False)
    exact_generation = _exact_auc_one_latent(gen_term, grid)
    exact = _exact_auc_one_latent(
        gen_term
        + acc.acceptance_profile("cos_theta", True).log(grid)
        - acc.acceptance_profile("cos_theta", False).log(grid),
        grid,
    )
    assert exact == pytest.approx(0.5423, abs=3e-4)
    assert exact_generation == pytest.approx(0.5339, abs=3e-4)
    sigma = _auc_sigma(N_ACCEPTED, N_ACCEPTED)  # 7.5e-4
    assert abs(corrected - exact) < 4 * sigma
    assert abs(generation - exact_generation) < 4 * sigma
    assert corrected > generation + 0.005  # paired: same events, the gain is 0.008


def _calibration_chi2(label: np.ndarray, logit: np.ndarray, n_bins: int = 20) -> float:
    """Chi-square p-value of the observed signal counts in quantile bins of ``logit`` against
    the sum of sigmoid(logit) there (binomial variance per event)."""
    edges = np.quantile(logit, np.linspace(0.0, 1.0, n_bins + 1))
    bins = np.clip(np.searchsorted(edges, logit, side="right") - 1, 0, n_bins - 1)
    prob = 1.0 / (1.0 + np.exp(-logit))
    observed = np.bincount(bins, weights=label, minlength=n_bins)
    expected = np.bincount(bins, weights=prob, minlength=n_bins)
    variance = np.bincount(bins, weights=prob * (1.0 - prob), minlength=n_bins)
    return float(stats.chi2.sf((((observed - expected) ** 2) / variance).sum(), n_bins))


@pytest.mark.parametrize(
    ("columns", "latents"),
    [(["cos_theta_star"], ("cos_theta",)), (list(LOW_LEVEL_FEATURES), INFORMATIVE_LATENTS)],
    ids=["cos_theta_star", "low"],
)
def test_bayes_scores_are_calibrated_posteriors(
    accepted_sample: pd.DataFrame, columns: list[str], latents: tuple[str, ...]
) -> None:
    """With as many signal as background events the exact posterior is sigmoid(score):
    the signal fraction in 20 score bins matches it (about 30000 events a bin, errors
    0.003). The generation-level ratio fails: for cos theta* the acceptance profiles are
    missing, for `low` the normalisation log(eff_B / eff_S)."""
    label = accepted_sample["label"].to_numpy()
    assert _calibration_chi2(label, bayes_scores(accepted_sample, columns)) > 1e-3
    assert _calibration_chi2(label, _generation_llr(accepted_sample, latents)) < 1e-6


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


def test_a_full_disk_stops_a_writer_naming_the_file_and_keeps_nothing(tmp_path: Path) -> None:
    """On a file system with no space left (a real 32 KiB tmpfs), every writer fails with an
    error naming the file it could not write, and leaves no half-written file behind; on a
    read-only one too."""
    import os
    import subprocess

    from helpers import require

    full = tmp_path / "full"
    full.mkdir()
    mounted = os.geteuid() == 0 and (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(full)]).returncode
        == 0
    )
    require(mounted, "mounting a small tmpfs needs root (and mount in this container)")
    try:
        big = np.random.default_rng(0).random(100_000)
        writers = {
            "events.root": lambda p: io.write_root_tree(p, [{"x": big}], {"x": np.float64}),
            "train.parquet": lambda p: io.write_parquet(p, pd.DataFrame({"x": big})),
            "metrics.json": lambda p: io.write_json(p, {"x": big}),
        }
        for name, write in writers.items():
            target = full / "results" / name
            with pytest.raises(OSError, match=f"cannot write {target}: .*No space left"):
                write(target)
        assert list((full / "results").iterdir()) == []
        # a read-only file system (root writes anywhere else): the same, naming the file
        subprocess.run(["mount", "-o", "remount,ro", str(full)], check=True)
        target = full / "results" / "summary.json"
        with pytest.raises(OSError, match=f"cannot write {target}: Read-only file system"):
            io.write_json(target, {"auc": 0.9})
    finally:
        subprocess.run(["umount", str(full)], check=True)
