"""How faithful a generator's events are, each number beside its noise floor.

A generated sample is compared with held-out real events (the test split, which no
generator saw) of the same size and the same class counts; the noise floor is the same
comparison between those real events and fresh toy events (independent real samples of
equal size), repeated over several seeds for its spread. The comparison
(:func:`compare`) holds:

- per feature: the 1-D Wasserstein distance and the KS statistic, for the low-level
  features and the derived pair observables (quantities a blind generator never saw); the
  signal's pair mass separately, with the peak's FWHM;
- FPD and KPD (:mod:`mlhep.generative.distances`) on the columns that carry information
  (:data:`~mlhep.data.dimuon.representation.DISTANCE_COLUMNS`: the absolute azimuths,
  uniform in every sample, replaced by the relative ones);
- a classifier two-sample test: a BDT trained to tell the two samples apart, on the
  low-level features and on all, its AUC on held-out halves (0.5: indistinguishable);
- the exact physics: W1 between the distributions of the exact Bayes discriminant
  (the log-likelihood ratio of the toy) on the two samples, per class.

:func:`train_on_synthetic` trains the BDT and the ANN on generated events only and
evaluates them on real test events against the Bayes limit (paired interval of the gap).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score, roc_curve

from mlhep.data.dimuon.features import ALL_FEATURES, bayes_scores, engineer
from mlhep.data.dimuon.physics import LOW_LEVEL_FEATURES, generate_chunks
from mlhep.data.dimuon.representation import FIDELITY_COLUMNS, MASS_COLUMN, distance_matrix
from mlhep.evaluation.metrics import paired_gap
from mlhep.generative import distances
from mlhep.generative.distances import fwhm
from mlhep.generative.sampling import Sampler

#: Feature sets of the classifier two-sample test.
TWO_SAMPLE_SETS: dict[str, tuple[str, ...]] = {
    "low": LOW_LEVEL_FEATURES,
    "all": ALL_FEATURES,
}
#: The two-sample BDT (fixed: the same test for every sample and the floor).
TWO_SAMPLE_BDT = {
    "n_estimators": 200,
    "max_depth": 5,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "tree_method": "hist",
}


def class_counts(labels: np.ndarray) -> tuple[int, int]:
    """(signal, background) counts."""
    n_signal = int(np.sum(labels == 1))
    return n_signal, len(labels) - n_signal


def reference_sample(test: pd.DataFrame, n_events: int, seed: int) -> pd.DataFrame:
    """``n_events`` real test events (fewer if the split is smaller), drawn without
    replacement, with the feature table's columns."""
    n = min(n_events, len(test))
    rows = np.sort(np.random.default_rng(seed).choice(len(test), n, replace=False))
    return test.iloc[rows].reset_index(drop=True)


def toy_sample(labels: np.ndarray, seed: int) -> pd.DataFrame:
    """Fresh toy events with the same class counts as ``labels``: an independent real
    sample for the noise floor (the toy's own generator, another seed)."""
    n_signal, n_background = class_counts(labels)
    chunks = [c.columns for c in generate_chunks(n_signal, n_background, seed, 1.0, 1.0)]
    frame = pd.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
    return engineer(frame[[*LOW_LEVEL_FEATURES, "label"]])


def generated_sample(generator: Sampler, labels: np.ndarray, seed: int) -> pd.DataFrame:
    """Generated events, one per label, with the engineered columns."""
    frame, _ = generator.sample(labels, seed)
    return engineer(frame)


def two_sample_test(
    real: pd.DataFrame, other: pd.DataFrame, columns: Sequence[str], seed: int, threads: int = 1
) -> dict[str, Any]:
    """A BDT told to separate ``other`` (1) from ``real`` (0) on ``columns`` and the class
    label, trained on half of each and scored on the other halves: its AUC (0.5 when the
    samples are alike) and ROC curve."""
    rng = np.random.default_rng(seed)
    x = np.vstack([real[list(columns)].to_numpy(float), other[list(columns)].to_numpy(float)])
    x = np.column_stack([x, np.concatenate([real["label"], other["label"]])])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(other))])
    train = rng.random(len(y)) < 0.5
    model = xgb.XGBClassifier(**TWO_SAMPLE_BDT, random_state=seed, n_jobs=threads)
    model.fit(x[train], y[train])
    score = model.predict_proba(x[~train])[:, 1]
    fpr, tpr, _ = roc_curve(y[~train], score)
    keep = np.unique(np.linspace(0, len(fpr) - 1, 200).astype(int))
    return {
        "auc": float(roc_auc_score(y[~train], score)),
        "roc": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
    }


def bayes_discriminant_w1(real: pd.DataFrame, other: pd.DataFrame) -> dict[str, float]:
    """W1 between the distributions of the exact log-likelihood ratio on the two samples,
    per class (the generated events must lie in the toy's support: the mass range)."""
    llr_real = bayes_scores(real, LOW_LEVEL_FEATURES)
    llr_other = bayes_scores(other, LOW_LEVEL_FEATURES)
    out = {}
    for name, label in (("signal", 1), ("background", 0)):
        out[name] = distances.wasserstein_1d(
            llr_real[real["label"].to_numpy() == label],
            llr_other[other["label"].to_numpy() == label],
        )
    return out


def compare(
    real: pd.DataFrame,
    other: pd.DataFrame,
    seed: int,
    settings: Mapping[str, Any],
    threads: int = 1,
) -> dict[str, Any]:
    """Every fidelity metric of ``other`` against ``real`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    cols = list(FIDELITY_COLUMNS)
    r, o = real[cols].to_numpy(float), other[cols].to_numpy(float)
    dr, do = distance_matrix(real), distance_matrix(other)
    signal_real = real.loc[real["label"] == 1, MASS_COLUMN].to_numpy()
    signal_other = other.loc[other["label"] == 1, MASS_COLUMN].to_numpy()
    result: dict[str, Any] = {
        "features": distances.per_feature(r, o, cols),
        "mass_signal": {
            "w1": distances.wasserstein_1d(signal_real, signal_other),
            "ks": distances.ks_statistic(signal_real, signal_other),
            "fwhm": fwhm(signal_other),
        },
        "fpd": distances.fpd(dr, do, rng, **settings["fpd"]).to_dict(),
        "kpd": distances.kpd(dr, do, rng, **settings["kpd"]).to_dict(),
        "two_sample": {
            name: two_sample_test(real, other, columns, seed, threads)
            for name, columns in TWO_SAMPLE_SETS.items()
        },
        "bayes_w1": bayes_discriminant_w1(real, other),
    }
    return result


def scalars(result: Mapping[str, Any]) -> dict[str, float]:
    """The headline numbers of a comparison, flat (for tables, floors and MLflow)."""
    out = {f"w1_{c}": v["w1"] for c, v in result["features"].items()}
    out.update({f"ks_{c}": v["ks"] for c, v in result["features"].items()})
    out.update({f"{k}_mass_signal": v for k, v in result["mass_signal"].items()})
    out["fpd"] = result["fpd"]["value"]
    out["kpd"] = result["kpd"]["value"]
    out.update({f"two_sample_auc_{k}": v["auc"] for k, v in result["two_sample"].items()})
    out.update({f"bayes_w1_{k}": v for k, v in result["bayes_w1"].items()})
    return out


def floor_summary(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over seeds of every headline number of the floor."""
    table = pd.DataFrame([scalars(r) for r in results])
    return {
        c: {
            "mean": float(table[c].mean()),
            "std": float(table[c].std(ddof=1)) if len(table) > 1 else 0.0,
        }
        for c in table.columns
    }


def train_on_synthetic(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    models: Mapping[str, Mapping[str, Any]],
    columns: Sequence[str],
    seed: int,
    threads: int = 1,
    device: str = "cpu",
) -> dict[str, dict[str, float]]:
    """Each of ``models`` (name -> settings, trained through the model registry) fitted on
    ``train`` (early stopping on ``validation``), scored on the real ``test`` events: AUC
    and the paired gap to the exact Bayes limit of ``columns`` on the same events."""
    from mlhep.models import get_trainer
    from mlhep.models.base import FitContext

    labels = test["label"].to_numpy()
    limit = bayes_scores(test, columns)
    out = {}
    for name, settings in models.items():
        trainer = get_trainer(name)
        start = time.perf_counter()
        fitted = trainer.fit(
            {"train": train, "validation": validation},
            columns,
            settings,
            FitContext(seed=seed, device=device, threads=threads),
        )
        score = trainer.predict(fitted, test, columns)["score"].to_numpy()
        gap = paired_gap(labels, limit, score, n_resamples=200, seed=seed)
        out[name] = {
            **gap,
            "limit_auc": float(roc_auc_score(labels, limit)),
            "fit_seconds": time.perf_counter() - start,
        }
    return out


def with_weights(frame: pd.DataFrame) -> pd.DataFrame:
    """A feature frame with the bookkeeping columns a trainer expects (unit weights,
    event ids in order)."""
    out = frame.copy()
    out["weight"] = 1.0
    out["event_id"] = np.arange(len(out))
    return out


def generation_speed(generator: Sampler, labels: np.ndarray, seed: int) -> dict[str, float]:
    """Events per second of the generator (rejection and decoding included) and of the
    toy's own generator, for the same class counts, same process."""
    start = time.perf_counter()
    generator.sample(labels, seed)
    gen_seconds = time.perf_counter() - start
    n_signal, n_background = class_counts(labels)
    start = time.perf_counter()
    for _ in generate_chunks(n_signal, n_background, seed, 1.0, 1.0):
        pass
    toy_seconds = time.perf_counter() - start
    return {
        "events": len(labels),
        "generator_events_per_second": len(labels) / gen_seconds,
        "toy_events_per_second": len(labels) / toy_seconds,
        "speed_ratio": toy_seconds / gen_seconds,
    }


def density_metrics(
    generator: Any, real: pd.DataFrame, prior_log_odds: float, seed: int, n_resamples: int = 200
) -> dict[str, float]:
    """What a generator with an exact density (the flow's :meth:`log_density`) gives on
    real events that no GAN can:

    - a classifier: its log-density ratio log p(x|S) - log p(x|B) scored like every model,
      its AUC against the exact limit on the same events (paired bootstrap interval of the
      gap) and its posterior sigmoid(ratio + ``prior_log_odds``) against the exact one
      (excess log-loss and the rest of :func:`~mlhep.evaluation.calibration.truth_metrics`);
    - an anomaly score: -log p(x|B), the background density alone, its AUC for signal;
    - its distance to the truth: the negative log-likelihood per event of the real events
      under the flow and under the toy's exact density, and their difference (an estimate
      of KL(truth || flow) in nats per event) with its standard error.
    """
    from mlhep.data.dimuon.acceptance import accepted_log_density
    from mlhep.evaluation.calibration import posterior, truth_metrics

    labels = real["label"].to_numpy()
    signal = labels == 1
    log_p = generator.log_density(real, seed)
    ratio = log_p[1] - log_p[0]
    limit = bayes_scores(real, LOW_LEVEL_FEATURES)
    gap = paired_gap(labels, limit, ratio, n_resamples=n_resamples, seed=seed)
    truth = truth_metrics(posterior(ratio, prior_log_odds), limit + prior_log_odds)
    obs = {c: real[c].to_numpy() for c in LOW_LEVEL_FEATURES}
    exact = np.where(signal, accepted_log_density(obs, True), accepted_log_density(obs, False))
    flow = np.where(signal, log_p[1], log_p[0])
    excess = exact - flow
    return {
        **{f"classifier_{k}": v for k, v in gap.items()},
        "classifier_limit_auc": float(roc_auc_score(labels, limit)),
        **{f"classifier_{k}": v for k, v in truth.items()},
        "anomaly_auc": float(roc_auc_score(labels, -log_p[0])),
        "nll": float(-flow.mean()),
        "nll_exact": float(-exact.mean()),
        "nll_excess": float(excess.mean()),
        "nll_excess_se": float(excess.std(ddof=1) / np.sqrt(len(excess))),
    }
