"""The evaluation core: TMVA's table, the overtraining check, AMS, the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mlhep.evaluation.classification import (
    SUMMARY_COLUMNS,
    VERDICT_NOTE,
    ams,
    bayes_rows,
    best_ams,
    efficiency_at,
    evaluate,
    ks_overtraining,
    member_spreads,
    model_loss,
    separation,
    summary_markdown,
    summary_table,
)


def _predictions(
    n: int = 4000, shift: float = 1.0, seed: int = 0, overtrain: float = 0.0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for split in ("train", "validation", "test"):
        label = np.repeat([0, 1], n // 2)
        score = rng.normal(0, 1, n) + shift * label
        if split == "train":
            score += overtrain * (2 * label - 1)  # the training split looks too easy
        weight = np.where(label == 1, 1000 / (n // 2), 100000 / (n // 2))
        parts.append(
            pd.DataFrame(
                {
                    "split": split,
                    "label": label,
                    "weight": weight,
                    "score": score,
                    "proba": 1 / (1 + np.exp(-score)),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(1, "event_id", rng.permutation(len(frame)) + 1000)
    return frame


def _limit_of(frame: pd.DataFrame, transform=lambda s: s) -> pd.Series:
    """A limit whose scores are a function of the model's on the test events, by event_id
    and in shuffled order (the join must not depend on row order)."""
    test = frame[frame.split == "test"].sample(frac=1.0, random_state=0)
    return pd.Series(transform(test["score"].to_numpy()), index=test["event_id"].to_numpy())


def test_efficiency_at_background_efficiency() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 200_000)
    s = rng.normal(0, 1, 400_000) + y
    effs = efficiency_at(y, s, np.ones_like(s), (0.01, 0.1, 0.3))
    # Gaussians one sigma apart: eff_S = 1 - Phi(Phi^-1(1 - eff_B) - 1)
    from scipy.stats import norm

    for eff_b, eff_s in effs.items():
        assert eff_s == pytest.approx(norm.sf(norm.isf(eff_b) - 1), abs=0.005)


def test_separation_limits() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, 50_000)
    assert separation(a, rng.normal(0, 1, 50_000)) < 0.01
    assert separation(a, a + 100) == pytest.approx(1.0)
    # two unit Gaussians one sigma apart: <S^2> = 1/2 int (g_0 - g_1)^2 / (g_0 + g_1) dy =
    # 0.20405 (quadrature). With 100 bins and 50k events a sample the estimate scatters by
    # 0.0024 (20 seeds; binning bias +0.0005): five of those, 0.012, is the tolerance
    from scipy import integrate
    from scipy.stats import norm

    exact = integrate.quad(
        lambda y: 0.5 * (norm.pdf(y) - norm.pdf(y, 1)) ** 2 / (norm.pdf(y) + norm.pdf(y, 1)),
        -20,
        21,
    )[0]
    assert exact == pytest.approx(0.20405, abs=1e-5)
    assert separation(a, rng.normal(1, 1, 50_000)) == pytest.approx(exact, abs=0.012)


def test_ams_formula() -> None:
    assert ams(10.0, 100.0, b_reg=0.0) == pytest.approx(np.sqrt(2 * (110 * np.log(1.1) - 10)))
    # s << b: AMS -> s / sqrt(b)
    assert ams(1.0, 1e6, b_reg=0.0) == pytest.approx(1e-3, rel=1e-3)
    assert ams(10.0, 100.0) < ams(10.0, 100.0, b_reg=0.0)


def test_best_ams_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(0, 1, 500) + y, 1)  # ties
    w = np.where(y == 1, 0.5, 20.0)
    best = best_ams(y, s, w)
    brute = max(
        ams(w[(s >= c) & (y == 1)].sum(), w[(s >= c) & (y == 0)].sum()) for c in np.unique(s)
    )
    assert best["ams"] == pytest.approx(brute)
    assert best["ams_s"] == pytest.approx(w[(s >= best["ams_cut"]) & (y == 1)].sum())


def test_ks_flags_overtraining() -> None:
    rng = np.random.default_rng(4)
    same = ks_overtraining(rng.normal(size=5000), rng.normal(size=5000))
    shifted = ks_overtraining(rng.normal(0.2, 1, 5000), rng.normal(size=5000))
    assert same["p"] > 1e-3 and shifted["p"] < 1e-6


def test_model_losses() -> None:
    frame = pd.DataFrame({"score": [2.0, -1.0, 0.5], "proba": [0.9, 0.2, 0.6]})
    y = np.array([1, 0, 0])
    assert model_loss("zero_one", y, frame) == pytest.approx(1 / 3)
    assert model_loss("mse", y, frame) == pytest.approx((1 + 1 + 0.25) / 3)
    assert model_loss("bce", y, frame) == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4])))
    with pytest.raises(ValueError, match="unknown loss"):
        model_loss("hinge", y, frame)


def test_evaluate_reports_every_metric_and_detects_overtraining() -> None:
    fair = _predictions(seed=5)
    limit = _limit_of(fair, lambda s: 2.0 * s)  # same ranking, joined on event_id
    m = evaluate(fair, "bce", limit, n_resamples=50)
    test = fair[fair.split == "test"]
    assert m["auc"] == pytest.approx(roc_auc_score(test.label, test.score))
    assert m["auc_low"] < m["auc"] < m["auc_high"]
    assert m["gap_to_bayes"] == pytest.approx(0.0, abs=1e-12)
    assert m["gap_low"] == m["gap_high"] == 0.0 and m["delong_p"] == 1.0
    assert m["limit_verdict"] == "consistent with the limit"
    assert 0 < m["eff_at_b01"] < m["eff_at_b10"] < m["eff_at_b30"] < 1
    assert m["ks_p_signal"] > 1e-3 and m["ks_p_background"] > 1e-3
    assert 0 < m["ks_signal"] < 0.05
    assert abs(m["generalization_gap"]) < 0.05
    over = evaluate(_predictions(seed=5, overtrain=0.5), "bce", n_resamples=50)
    assert over["ks_p_signal"] < 1e-6 and over["ks_p_background"] < 1e-6
    assert over["ks_signal"] > 0.1
    assert over["generalization_gap"] > 0.1
    assert "bayes_auc" not in over
    with pytest.raises(ValueError, match="1 of 4000 events have no limit score"):
        evaluate(fair, "bce", limit.iloc[1:], n_resamples=50)


def test_gap_is_paired_and_the_verdict_follows_its_interval() -> None:
    frame = _predictions(n=40_000, shift=1.0, seed=8)  # score: the optimal discriminant
    worse = frame.copy()
    worse["score"] = frame["score"] + 0.25 * np.random.default_rng(9).normal(size=len(frame))
    truth, noisy = _limit_of(frame), _limit_of(worse)
    m = evaluate(worse, "zero_one", truth, n_resamples=300, seed=1)
    assert m["gap_to_bayes"] > 0 and m["limit_verdict"] == "below the limit"
    assert m["gap_low"] < m["gap_to_bayes"] < m["gap_high"]
    # pairing: the gap is far better known than either AUC
    assert m["gap_high"] - m["gap_low"] < 0.5 * (m["auc_high"] - m["auc_low"])
    # DeLong's standard error agrees with the bootstrap's (class-constant weights)
    assert m["delong_se"] == pytest.approx(m["gap_std"], rel=0.2)
    assert m["delong_p"] < 1e-6
    # a classifier above its "limit" beyond noise is flagged: the limit must be wrong
    above = evaluate(frame, "zero_one", noisy, n_resamples=300, seed=1)
    assert above["limit_verdict"] == "above the limit (check the limit)"


def test_ams_cut_is_chosen_on_validation_and_measured_on_test() -> None:
    frame = _predictions(n=20_000, seed=10)
    m = evaluate(frame, "bce", n_resamples=200)
    val, test = (frame[frame.split == s] for s in ("validation", "test"))
    chosen = best_ams(val.label.to_numpy(), val.score.to_numpy(), val.weight.to_numpy())
    assert m["ams_cut"] == chosen["ams_cut"] and m["ams_validation"] == chosen["ams"]
    sel = test.score >= chosen["ams_cut"]
    s, b = test.weight[sel & (test.label == 1)].sum(), test.weight[sel & (test.label == 0)].sum()
    assert m["ams"] == pytest.approx(float(ams(s, b)))
    assert m["ams_low"] < m["ams"] < m["ams_high"]
    # the test optimum is at least the validated cut's value: choosing on test is optimistic
    assert (
        best_ams(test.label.to_numpy(), test.score.to_numpy(), test.weight.to_numpy())["ams"]
        >= m["ams"]
    )


def test_summary_table_and_markdown() -> None:
    frame = _predictions(seed=6)
    m = evaluate(frame, "bce", _limit_of(frame, lambda s: s + 0.0), n_resamples=20)
    rows = [{**m, "dataset": "d", "model": "logistic", "features": "low"}]
    bayes = evaluate(frame, "bce", _limit_of(frame), n_resamples=20)
    rows += bayes_rows({"dataset": "d", "feature_sets": {"low": {**bayes, "auc": 0.99}}})
    # an ensemble of the logistic's configuration: its members' spread on that row only
    members = [0.70, 0.72, 0.74]
    about = {"dataset": "d", "model": "logistic", "features": "low", "study": "e"}
    spreads = member_spreads([{**about, "member_auc": members}])
    table = summary_table(rows, spreads)
    assert list(table.columns[: len(SUMMARY_COLUMNS)]) == list(SUMMARY_COLUMNS)
    assert table["model"].tolist() == ["bayes_optimal", "logistic"]  # sorted by AUC
    assert table["member_auc_std"].iloc[1] == pytest.approx(0.02)  # ddof 1
    assert np.isnan(table["member_auc_std"].iloc[0]) and table["member_study"].iloc[1] == "e"
    md = summary_markdown(table)
    assert md.count("\n") == 6 and "| d | logistic | low |" in md
    assert "consistent with the limit" in md and "+0.00000 [+0.00000, +0.00000]" in md
    assert "| 0.02000 |" in md and md.endswith(VERDICT_NOTE + "\n")


def _unequal_classes(mu: float = 0.8, seed: int = 12) -> tuple[pd.DataFrame, pd.Series]:
    """Three signal events per background event in every split, x ~ N(+-mu, 1) per class:
    the exact log-likelihood ratio is 2 mu x."""
    rng = np.random.default_rng(seed)
    parts = []
    for split in ("train", "validation", "test"):
        label = np.repeat([1, 0], [30_000, 10_000])
        x = rng.normal(np.where(label == 1, mu, -mu), 1.0)
        parts.append(pd.DataFrame({"split": split, "label": label, "weight": 1.0, "x": x}))
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(1, "event_id", np.arange(len(frame)))
    test = frame[frame.split == "test"]
    return frame, pd.Series(2 * mu * test["x"].to_numpy(), index=test["event_id"].to_numpy())


def test_probabilities_are_judged_at_the_prior_they_were_trained_at() -> None:
    frame, limit = _unequal_classes()
    llr = 2 * 0.8 * frame["x"]
    prior = np.log(3.0)
    # a model trained on the 3:1 sample learns the posterior at prior 3:1 ...
    at_sample = frame.assign(score=llr + prior, proba=1 / (1 + np.exp(-(llr + prior))))
    m = evaluate(at_sample, "bce", limit, prior, n_resamples=20, calibration_methods=["platt"])
    assert m["excess_log_loss"] == pytest.approx(0.0, abs=1e-12)
    assert m["logit_slope"] == pytest.approx(1.0) and m["logit_intercept"] == pytest.approx(
        0.0, abs=1e-9
    )
    # ... judged at the wrong prior, it would look shifted by log 3
    wrong = evaluate(at_sample, "bce", limit, 0.0, n_resamples=20)
    assert wrong["logit_intercept"] == pytest.approx(prior) and wrong["excess_log_loss"] > 0.01
    # a class-balanced model learns the posterior at 1:1; recalibrated on the 3:1 validation
    # labels it becomes a posterior at 3:1, and is judged there
    balanced = frame.assign(score=llr, proba=1 / (1 + np.exp(-llr)))
    b = evaluate(balanced, "bce", limit, 0.0, n_resamples=20, calibration_methods=["platt"])
    assert b["excess_log_loss"] == pytest.approx(0.0, abs=1e-12)
    assert abs(b["logit_intercept_platt"]) < 0.05 and b["excess_log_loss_platt"] < 1e-3
    assert b["gap_to_bayes"] == 0.0 and b["auc"] == m["auc"]
    # DeLong cross-checks unweighted AUCs: with weights that vary within a class it is left out
    varied = at_sample.assign(weight=np.random.default_rng(1).uniform(0.5, 2.0, len(frame)))
    v = evaluate(varied, "bce", limit, prior, n_resamples=20)
    assert np.isnan(v["delong_p"]) and not np.isnan(m["delong_p"])


def test_training_prior_follows_the_trainer() -> None:
    from mlhep.models import get_trainer
    from mlhep.models.training import training_prior_log_odds

    train = pd.DataFrame({"label": [1, 1, 1, 0]})
    assert training_prior_log_odds(get_trainer("bdt"), train) == 0.0  # class-balanced weights
    assert training_prior_log_odds(get_trainer("logistic"), train) == pytest.approx(np.log(3.0))
