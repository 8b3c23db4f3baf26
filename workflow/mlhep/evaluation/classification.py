"""The evaluation every classifier goes through (TMVA's table and more), built on
scikit-learn's ROC and SciPy's KS test:

- ROC AUC (weighted by the physics weights, and unweighted) with a bootstrap interval;
- signal efficiency at background efficiency 1%, 10%, 30%, and the separation <S^2>;
- the overtraining check: KS statistic D and p-value of train against test scores per
  class, and the generalization gap (test loss - train loss in the model's own loss);
- the approximate median significance AMS (HiggsML) of the cut chosen on the validation
  split, measured on the test split with a bootstrap interval;
- where the feature set has an exact limit: the limit's AUC on the same test events, the
  gap to it with a paired bootstrap interval and DeLong's test, and the probabilities
  against the exact posterior (:mod:`mlhep.evaluation.calibration`).

The Bayes-optimal discriminant goes through the same function, so every column is filled
for it as for a classifier.

References: A. Hoecker et al., TMVA users guide, arXiv:physics/0703039 (separation, KS
check); C. Adam-Bourdarios et al., The Higgs boson machine learning challenge, JMLR W&CP 42
(2015) (AMS with b_reg = 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score, roc_curve

from mlhep.evaluation.calibration import prior_log_odds as prior_log_odds_of
from mlhep.evaluation.calibration import recalibrated_metrics, truth_metrics
from mlhep.evaluation.limit import join_limit
from mlhep.evaluation.metrics import (
    auc_with_ci,
    delong_test,
    limit_verdict,
    paired_gap,
    percentile_interval,
    resampled_counts,
)

BACKGROUND_EFFICIENCIES = (0.01, 0.10, 0.30)
#: Columns of the summary table, in order.
SUMMARY_COLUMNS = (
    "dataset",
    "model",
    "features",
    "auc",
    "auc_low",
    "auc_high",
    "auc_unweighted",
    "bayes_auc",
    "gap_to_bayes",
    "gap_low",
    "gap_high",
    "limit_verdict",
    "delong_p",
    "member_auc_std",
    "member_study",
    "eff_at_b01",
    "eff_at_b10",
    "eff_at_b30",
    "separation",
    "ks_signal",
    "ks_p_signal",
    "ks_background",
    "ks_p_background",
    "loss",
    "train_loss",
    "test_loss",
    "generalization_gap",
    "ams",
    "ams_low",
    "ams_high",
    "ams_cut",
    "ams_validation",
    "excess_log_loss",
    "mean_abs_dp",
    "p99_abs_dp",
    "logit_slope",
    "logit_intercept",
)


def efficiency_at(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, targets: Sequence[float]
) -> dict[float, float]:
    """Signal efficiency where the (weighted) background efficiency equals each target."""
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights)
    return {t: float(np.interp(t, fpr, tpr)) for t in targets}


def separation(signal: np.ndarray, background: np.ndarray, bins: int = 100) -> float:
    """TMVA's separation <S^2> = 1/2 sum (p_S - p_B)^2 / (p_S + p_B) of the binned score
    distributions (each normalised to unit sum): 0 for identical, 1 for disjoint shapes."""
    edges = np.histogram_bin_edges(np.concatenate([signal, background]), bins=bins)
    p_s = np.histogram(signal, edges)[0] / len(signal)
    p_b = np.histogram(background, edges)[0] / len(background)
    both = p_s + p_b
    nonzero = both > 0
    return float(0.5 * np.sum((p_s - p_b)[nonzero] ** 2 / both[nonzero]))


def ams(s: np.ndarray | float, b: np.ndarray | float, b_reg: float = 10.0) -> np.ndarray:
    """Approximate median significance sqrt(2 ((s + b + b_r) ln(1 + s / (b + b_r)) - s))."""
    s, b = np.asarray(s, dtype=float), np.asarray(b, dtype=float)
    return np.sqrt(2.0 * ((s + b + b_reg) * np.log1p(s / (b + b_reg)) - s))


def best_ams(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, b_reg: float = 10.0
) -> dict[str, float]:
    """The largest AMS over cuts ``score >= cut``, with s and b the selected weight sums."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    s = np.cumsum(np.where(labels[order] == 1, weights[order], 0.0))
    b = np.cumsum(np.where(labels[order] == 0, weights[order], 0.0))
    # a cut can only fall between distinct scores: keep the last event of each tie group
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    values = ams(s[last], b[last], b_reg)
    k = int(np.argmax(values))
    return {
        "ams": float(values[k]),
        "ams_cut": float(sorted_scores[last][k]),
        "ams_s": float(s[last][k]),
        "ams_b": float(b[last][k]),
    }


def ks_overtraining(train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Two-sample Kolmogorov-Smirnov test of train against test scores (one class)."""
    result = stats.ks_2samp(train, test)
    return {"statistic": float(result.statistic), "p": float(result.pvalue)}


def model_loss(loss: str, labels: np.ndarray, frame: pd.DataFrame) -> float:
    """The model's own mean loss on a split: ``bce`` on ``proba``, ``mse`` on ``score``
    against the labels, ``zero_one`` the error rate of ``score >= 0``, ``reconstruction``
    the mean ``score`` of the background events."""
    if loss == "bce":
        return float(
            log_loss(labels, np.clip(frame["proba"].to_numpy(), 1e-15, 1 - 1e-15), labels=[0, 1])
        )
    if loss == "mse":
        return float(np.mean((frame["score"].to_numpy() - labels) ** 2))
    if loss == "zero_one":
        return float(np.mean((frame["score"].to_numpy() >= 0.0).astype(int) != labels))
    if loss == "reconstruction":  # an autoencoder's: its mean error on the background it models
        return float(np.mean(frame["score"].to_numpy()[labels == 0]))
    raise ValueError(f"unknown loss {loss!r}; known: bce, mse, zero_one, reconstruction")


def ams_validated(
    validation: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    b_reg: float = 10.0,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """The AMS of the cut chosen on validation, applied to the test events: the test AMS
    with a percentile-bootstrap interval over resampled test events (the cut held fixed),
    and the optimum reached on validation (optimistic: chosen on those events)."""
    chosen = best_ams(*validation, b_reg)
    y, s, w = test
    selected = s >= chosen["ams_cut"]
    ws, wb = w * ((y == 1) & selected), w * ((y == 0) & selected)
    reps: list[float] = []
    for counts in resampled_counts(len(y), n_resamples, seed):
        drawn = counts.astype(np.float64)  # converted once for both sums (``@`` converts per use)
        reps.append(float(ams(drawn @ ws, drawn @ wb, b_reg)))
    low, high = percentile_interval(np.array(reps), level)
    return {
        "ams": float(ams(ws.sum(), wb.sum(), b_reg)),
        "ams_low": float(low),
        "ams_high": float(high),
        "ams_cut": chosen["ams_cut"],
        "ams_s": float(ws.sum()),
        "ams_b": float(wb.sum()),
        "ams_validation": chosen["ams"],
    }


def _split(predictions: pd.DataFrame, name: str) -> pd.DataFrame:
    part = predictions[predictions["split"] == name]
    if part.empty:
        raise ValueError(f"predictions have no {name!r} rows")
    return part


def evaluate(
    predictions: pd.DataFrame,
    loss: str,
    limit_scores: pd.Series | None = None,
    prior_log_odds: float = 0.0,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    b_reg: float = 10.0,
    seed: int = 0,
    calibration_methods: Sequence[str] = (),
) -> dict[str, Any]:
    """Every metric of one classifier from its predictions on every split.

    ``predictions`` has columns ``split`` (train / validation / test), ``event_id``,
    ``label``, ``weight`` and ``score`` (and ``proba`` for probabilistic models).
    ``limit_scores`` is the exact log-likelihood ratio of the accepted densities indexed
    by ``event_id`` (where the feature set has an exact limit): the gap to it is paired
    (same events, same resamples), and probabilities are compared with the exact posterior
    sigmoid(limit + ``prior_log_odds``), the prior being the one the model was trained at.
    The AMS cut and any recalibration are fitted on the validation split; the test split
    is only measured.
    """
    test, train, val = (_split(predictions, s) for s in ("test", "train", "validation"))
    y, s, w = (test[c].to_numpy() for c in ("label", "score", "weight"))
    ref = None
    if limit_scores is not None:
        ref = join_limit(limit_scores, test["event_id"])
        auc = paired_gap(y, ref, s, w, n_resamples, confidence_level, seed)
    else:
        auc = auc_with_ci(y, s, w, n_resamples, confidence_level, seed)
    effs = efficiency_at(y, s, w, BACKGROUND_EFFICIENCIES)
    ks = {
        name: ks_overtraining(train.loc[train["label"] == cls, "score"].to_numpy(), s[y == cls])
        for name, cls in (("signal", 1), ("background", 0))
    }
    train_loss = model_loss(loss, train["label"].to_numpy(), train)
    test_loss = model_loss(loss, y, test)
    validation = (val["label"].to_numpy(), val["score"].to_numpy(), val["weight"].to_numpy())
    out: dict[str, Any] = {
        **{k: auc[k] for k in ("auc", "auc_low", "auc_high", "auc_std")},
        "auc_unweighted": float(roc_auc_score(y, s)),
        **{f"eff_at_b{round(100 * t):02d}": e for t, e in effs.items()},
        "separation": separation(s[y == 1], s[y == 0]),
        "ks_signal": ks["signal"]["statistic"],
        "ks_p_signal": ks["signal"]["p"],
        "ks_background": ks["background"]["statistic"],
        "ks_p_background": ks["background"]["p"],
        "loss": loss,
        "train_loss": train_loss,
        "test_loss": test_loss,
        "generalization_gap": test_loss - train_loss,
        **ams_validated(validation, (y, s, w), b_reg, n_resamples, confidence_level, seed + 1),
        "n_test": len(test),
        "n_train": len(train),
        "confidence_level": confidence_level,
    }
    if ref is None:
        return out
    # DeLong's test is for unweighted AUCs: it cross-checks the weighted gap only where the
    # weights are constant within each class (then both AUCs are the same)
    constant = all(np.ptp(w[y == c]) <= 1e-12 * np.abs(w[y == c]).max() for c in (0, 1))
    delong = delong_test(y, ref, s) if constant else dict.fromkeys(("se", "z", "p"), np.nan)
    out.update(
        bayes_auc=out["auc"] + auc["gap"],
        gap_to_bayes=auc["gap"],
        gap_low=auc["gap_low"],
        gap_high=auc["gap_high"],
        gap_std=auc["gap_std"],
        limit_verdict=limit_verdict(auc["gap_low"], auc["gap_high"]),
        delong_se=delong["se"],
        delong_z=delong["z"],
        delong_p=delong["p"],
    )
    if "proba" in test:
        p = test["proba"].to_numpy(dtype=float)
        out.update(truth_metrics(p, ref + prior_log_odds), prior_log_odds=prior_log_odds)
        # a recalibration fitted on the validation labels gives posteriors at their prior
        val_labels = val["label"].to_numpy()
        out.update(
            recalibrated_metrics(
                list(calibration_methods),
                (val["proba"].to_numpy(dtype=float), val_labels),
                p,
                ref + prior_log_odds_of(val_labels),
                prior_log_odds,
            )
        )
    return out


def member_spreads(ensembles: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], Any]:
    """(dataset, model, features) -> the standard deviation of an ensemble's members' test
    AUCs and the study that measured it: the training randomness (seeds; for the BDT
    bootstrap also the resampled training events) that a verdict's interval, over the test
    events of one trained model, leaves out."""
    return {
        (e["dataset"], e["model"], e["features"]): {
            "member_auc_std": float(np.std(e["member_auc"], ddof=1)),
            "member_study": e["study"],
        }
        for e in ensembles
        if len(e["member_auc"]) > 1
    }


def summary_table(
    rows: Sequence[dict[str, Any]],
    spreads: Mapping[tuple[str, str, str], Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """One row per (dataset, model, feature set), the :data:`SUMMARY_COLUMNS` first, sorted;
    ``spreads`` (:func:`member_spreads`) fill ``member_auc_std`` where an ensemble of that
    model was trained."""
    rows = [
        {**r, **(spreads or {}).get((r["dataset"], r["model"], r["features"]), {})} for r in rows
    ]
    frame = pd.DataFrame(list(rows))
    for column in SUMMARY_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    extra = [c for c in frame.columns if c not in SUMMARY_COLUMNS]
    frame = frame[[*SUMMARY_COLUMNS, *extra]]
    return frame.sort_values(
        ["dataset", "features", "auc"], ascending=[True, True, False]
    ).reset_index(drop=True)


def summary_markdown(frame: pd.DataFrame) -> str:
    """The summary as a Markdown table: AUC with its interval, the paired gap to the limit
    with its interval and verdict, TMVA's columns, KS D, the validated AMS, and the
    probabilities against the exact posterior."""
    lines = [
        "| dataset | model | features | AUC [CI] | gap to limit [paired CI] | verdict "
        "| member AUC spread | eff@B=1% | eff@B=10% | eff@B=30% | separation | KS D (S/B) "
        "| KS p (S/B) | gen. gap | AMS [CI] | excess log-loss | E abs(p-p*) | logit slope |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(value: Any, fmt: str) -> str:
        return (
            ""
            if value is None or (isinstance(value, float) and np.isnan(value))
            else format(value, fmt)
        )

    for r in frame.to_dict("records"):
        gap = (
            f"{f(r['gap_to_bayes'], '+.5f')} "
            f"[{f(r['gap_low'], '+.5f')}, {f(r['gap_high'], '+.5f')}]"
            if f(r["gap_to_bayes"], "g")
            else ""
        )
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['features']} "
            f"| {f(r['auc'], '.4f')} [{f(r['auc_low'], '.4f')}, {f(r['auc_high'], '.4f')}] "
            f"| {gap} | {f(r['limit_verdict'], 's')} "
            f"| {f(r.get('member_auc_std'), '.5f')} "
            f"| {f(r['eff_at_b01'], '.3f')} | {f(r['eff_at_b10'], '.3f')} "
            f"| {f(r['eff_at_b30'], '.3f')} "
            f"| {f(r['separation'], '.3f')} "
            f"| {f(r['ks_signal'], '.4f')} / {f(r['ks_background'], '.4f')} "
            f"| {f(r['ks_p_signal'], '.2g')} / {f(r['ks_p_background'], '.2g')} "
            f"| {f(r['generalization_gap'], '+.4f')} "
            f"| {f(r['ams'], '.2f')} [{f(r['ams_low'], '.2f')}, {f(r['ams_high'], '.2f')}] "
            f"| {f(r['excess_log_loss'], '.2e')} | {f(r['mean_abs_dp'], '.4f')} "
            f"| {f(r['logit_slope'], '.3f')} |"
        )
    return "\n".join(lines) + "\n\n" + VERDICT_NOTE + "\n"


#: What a verdict says and does not say (under the summary table and in the report).
VERDICT_NOTE = (
    "The verdict reads the paired bootstrap interval of (limit AUC - model AUC) over the "
    "test events: *consistent with the limit* means only that the interval contains zero. "
    "For a model at the limit each row reads *above the limit* with probability 2.5% by "
    "chance (at the 95% level), so one such row among many is expected. The interval is "
    "that of one trained model on one test sample: it leaves out training randomness, "
    "which the member AUC spread shows where an ensemble was trained (the standard "
    "deviation of its members' test AUCs: seeds for the ANN ensemble, bootstrap resamples "
    "of the training events for the BDT ensemble)."
)


def bayes_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Summary rows of the Bayes-optimal limits (the output of rule bayes_optimal)."""
    return [
        {"dataset": result["dataset"], "model": "bayes_optimal", "features": features, **m}
        for features, m in result["feature_sets"].items()
    ]
