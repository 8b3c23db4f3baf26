"""The generative stage's jobs, one function per rule (the scripts only pass paths and
params): train a generator, measure the noise floor once, judge each generator, and
gather everything into one table and the comparison figures."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlhep import io, plotting
from mlhep.data.dimuon.features import engineer
from mlhep.data.dimuon.physics import LOW_LEVEL_FEATURES
from mlhep.data.dimuon.representation import FIDELITY_COLUMNS, KS_TABLE_COLUMNS, MASS_COLUMN
from mlhep.evaluation.calibration import prior_log_odds
from mlhep.generative import distances, fidelity, figures, sampling
from mlhep.generative.sampling import Monitor, Sampler

log = logging.getLogger(__name__)

#: Seeds of the stage's samples, offset from the config's seed so that they differ from
#: the training's and from each other.
REFERENCE_SEED, GENERATED_SEED, TSTR_SEED, FLOOR_SEED, MONITOR_SEED = 101, 202, 303, 404, 505
DENSITY_SEED = 606


def describe(settings: Mapping[str, Any], name: str) -> str:
    """A generator in a few words: its name, model and (for a GAN) critic."""
    if "critic" in settings:
        return f"{name}: {settings['objective']}, {settings['critic']} critic"
    return f"{name}: {settings['objective']}"


def make_monitor(validation: pd.DataFrame, n_events: int, seed: int) -> Monitor:
    """The checkpoint monitor: W1 of each low-level feature (in units of its standard
    deviation; their mean, ``w1_low``, chooses the checkpoint) and of the pair mass (also
    the signal's, in GeV and in units of its standard deviation, for a GAN that selects on
    it), between ``n_events`` validation events and as many generated ones, and the
    fraction generated inside the mass range."""
    real = fidelity.reference_sample(validation, n_events, seed)
    scale = real[list(LOW_LEVEL_FEATURES)].std().to_numpy()
    signal = real["label"].to_numpy() == 1
    signal_scale = float(real.loc[signal, MASS_COLUMN].std())

    def monitor(generator: Sampler) -> dict[str, float]:
        frame, tried = generator.sample(real["label"].to_numpy(), seed, max_rounds=3, strict=False)
        generated = engineer(frame)
        g_signal = generated["label"].to_numpy() == 1
        if not g_signal.any() or g_signal.all():  # nothing (of a class) in the mass range yet
            nothing = float("inf")
            return {
                "w1_low": nothing,
                "w1_mass": nothing,
                "w1_mass_signal": nothing,
                "w1_mass_signal_std": nothing,
                "in_mass_range": len(frame) / max(tried["signal"] + tried["background"], 1),
                "selection": nothing,
            }
        w1 = [
            distances.wasserstein_1d(real[c].to_numpy(), generated[c].to_numpy()) / s
            for c, s in zip(LOW_LEVEL_FEATURES, scale, strict=True)
        ]
        out = {
            "w1_low": float(np.mean(w1)),
            "w1_mass": distances.wasserstein_1d(real[MASS_COLUMN], generated[MASS_COLUMN]),
            "w1_mass_signal": distances.wasserstein_1d(
                real.loc[signal, MASS_COLUMN], generated.loc[g_signal, MASS_COLUMN]
            ),
            "in_mass_range": len(frame) / max(tried["signal"] + tried["background"], 1),
        }
        out["w1_mass_signal_std"] = out["w1_mass_signal"] / signal_scale
        return {**out, "selection": out["w1_low"]}

    return monitor


def train_generator(
    name: str,
    splits: Mapping[str, str | os.PathLike[str]],
    settings: Mapping[str, Any],
    monitor_events: int,
    *,
    seed: int,
    device: str,
    threads: int,
    outputs: Mapping[str, str | os.PathLike[str]],
    tracking: Any = None,
) -> dict[str, Any]:
    """Train generator ``name`` on the training split's low-level features (validation
    events monitor it), save it, draw its history, log an MLflow run (per-checkpoint losses
    and W1, the generator as a pyfunc model); return the record."""
    from mlhep.models import get_trainer

    columns = [*LOW_LEVEL_FEATURES, "label"]
    train = pd.read_parquet(splits["train"], columns=columns)
    validation = pd.read_parquet(splits["validation"])
    monitor = make_monitor(validation, monitor_events, seed + MONITOR_SEED)
    generator, info = get_trainer(settings["objective"]).train(
        train,
        settings,
        validation=validation[columns],
        device=device,
        seed=seed,
        threads=threads,
        monitor=monitor,
    )
    history = info["history"]
    log.info(
        "%s: %.0f s on %s, kept step %d",
        name,
        info["train_seconds"],
        info["device"],
        info["best_step"],
    )
    with io.atomic_path(outputs["generator"]) as tmp:
        generator.save(tmp)
    plotting.save_figure(
        figures.history_figure(
            {**history, "best_step": info["best_step"]},
            describe(settings, name),
        ),
        outputs["history"],
    )
    run_id, model_uri = None, ""
    if tracking is not None:
        from mlhep import tracking as mltracking
        from mlhep.generative.pyfunc import log_generator

        params = {
            **settings,
            "generator": name,
            "seed": seed,
            "device": info["device"],
            "n_train": info["n_train"],
        }
        tags = {
            "model": settings["objective"],
            "generator": name,
            "critic": settings.get("critic", "none"),
            "kind": "generator",
        }
        with mltracking.start_run(tracking, f"generator-{name}", tags=tags) as run:
            mltracking.log_params({k: str(v) for k, v in params.items()})
            curves = {k: v for k, v in history.items() if k not in ("step", "selection")}
            mltracking.log_curves(curves, steps=history["step"])
            mltracking.mlflow_module().log_metrics(
                {"train_seconds": info["train_seconds"], "best_step": info["best_step"]}
            )
            mltracking.mlflow_module().log_artifact(os.fspath(outputs["history"]))
            model_uri = log_generator(os.fspath(outputs["generator"]))
            run_id = run.info.run_id
    record = {
        "generator": name,
        "settings": dict(settings),
        "seed": seed,
        **info,
        "mlflow_run_id": run_id,
        "model_uri": model_uri,
    }
    io.write_json(outputs["record"], record)
    return record


def ablate_generator(
    name: str,
    splits: Mapping[str, str | os.PathLike[str]],
    settings: Mapping[str, Any],
    *,
    events: int,
    monitor_events: int,
    distances: Mapping[str, Any],
    seed: int,
    device: str,
    output: str | os.PathLike[str],
    tracking: Any = None,
) -> dict[str, Any]:
    """The ablation of generator ``name`` (:func:`mlhep.generative.ablation.chain`) from its
    plain ``settings`` on the training and validation splits (the test split is not read):
    each candidate an MLflow run as it finishes, all of them children of one parent run;
    the record (every row, the settings kept) written to ``output``."""
    from mlhep.generative import ablation

    columns = [*LOW_LEVEL_FEATURES, "label"]
    train = pd.read_parquet(splits["train"], columns=columns)
    validation = pd.read_parquet(splits["validation"])
    run_ids: list[str] = []

    def evaluate(candidate: Mapping[str, Any]) -> dict[str, Any]:
        return ablation.judge(
            candidate,
            train,
            validation,
            seed=seed,
            events=events,
            monitor_events=monitor_events,
            distances=distances,
            device=device,
        )

    def progress(row: dict[str, Any]) -> None:
        numbers = {k: row[k] for k, _, _ in ablation.COLUMNS}
        log.info("%s, %s: kept %s, %s", name, row["change"], row["kept"], numbers)
        if tracking is not None:
            run_ids.append(_log_candidate(tracking, name, row))

    rows, kept = ablation.chain(settings, evaluate, progress=progress)
    record = {"generator": name, "baseline": dict(settings), "rows": rows, "kept": kept}
    io.write_json(output, record)
    log.info("\n%s", ablation.markdown(name, rows))
    if tracking is not None:
        from mlhep.studies.generalization.tracking import log_study

        record["mlflow_run_id"] = log_study(tracking, f"ablation-{name}", {}, [output], run_ids)
        io.write_json(output, record)
    return record


def _log_candidate(tracking: Any, name: str, row: Mapping[str, Any]) -> str:
    """One candidate of an ablation as an MLflow run (its settings, numbers and verdict)."""
    from mlhep import tracking as mltracking
    from mlhep.studies.generalization.tracking import scalar_metrics

    tags = {
        "generator": name,
        "kind": "ablation",
        "ablation_change": row["change"],
        "ablation_kept": "yes" if row["kept"] else "no",
    }
    with mltracking.start_run(tracking, f"ablation-{name} {row['change']}", tags=tags) as run:
        mltracking.log_params({k: str(v) for k, v in row["settings"].items()})
        mltracking.mlflow_module().log_metrics(scalar_metrics(row))
        return str(run.info.run_id)


def _tstr_samples(
    generator: Sampler, train_labels: np.ndarray, n_events: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generated training and validation events (4:1) with the training split's class
    fraction, for train-on-synthetic."""
    rng = np.random.default_rng([seed, 2])  # not the sampler's stream
    fraction = float(np.mean(train_labels == 1))
    n_validation = max(n_events // 4, 2)
    labels = (rng.random(n_events + n_validation) < fraction).astype(np.int64)
    frame = fidelity.with_weights(fidelity.generated_sample(generator, labels, seed))
    return frame.iloc[:n_events].reset_index(drop=True), frame.iloc[n_events:].reset_index(
        drop=True
    )


def _tstr_real(
    train: pd.DataFrame, validation: pd.DataFrame, n_events: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real training and validation events of the same sizes (the reference)."""
    return (
        fidelity.reference_sample(train, n_events, seed),
        fidelity.reference_sample(validation, max(n_events // 4, 2), seed),
    )


def noise_floor(
    splits: Mapping[str, str | os.PathLike[str]],
    settings: Mapping[str, Any],
    tstr_models: Mapping[str, Mapping[str, Any]],
    columns: Sequence[str],
    *,
    seed: int,
    threads: int,
    device: str,
    output: str | os.PathLike[str],
) -> dict[str, Any]:
    """The noise floor: every fidelity metric between the reference events and fresh toy
    events of equal size and class counts, over ``floor_seeds`` seeds (mean, spread and
    each seed's numbers); train-on-real with as many events as train-on-synthetic; the
    toy generator's speed."""
    test = pd.read_parquet(splits["test"])
    reference = fidelity.reference_sample(test, settings["events"], seed + REFERENCE_SEED)
    results = []
    for k in range(settings["floor_seeds"]):
        start = time.perf_counter()
        toy = fidelity.toy_sample(reference["label"].to_numpy(), seed + FLOOR_SEED + k)
        results.append(fidelity.compare(reference, toy, seed + k, settings, threads))
        log.info(
            "floor seed %d: %s (%.0f s)",
            k,
            _headline(fidelity.scalars(results[-1])),
            time.perf_counter() - start,
        )
    train, validation = _tstr_real(
        pd.read_parquet(splits["train"]),
        pd.read_parquet(splits["validation"]),
        settings["train_on_synthetic"]["events"],
        seed + TSTR_SEED,
    )
    tstr = fidelity.train_on_synthetic(
        train, validation, test, tstr_models, columns, seed, threads, device
    )
    log.info("train on real: %s", {m: round(v["auc"], 4) for m, v in tstr.items()})
    out = {
        "summary": fidelity.floor_summary(results),
        "seeds": [fidelity.scalars(r) for r in results],
        "reference_events": len(reference),
        "train_on_real": tstr,
        "two_sample_roc": {
            k: {**v["roc"], "auc": v["auc"]} for k, v in results[0]["two_sample"].items()
        },
    }
    io.write_json(output, out)
    return out


def _headline(values: Mapping[str, float]) -> str:
    keys = (
        f"w1_{MASS_COLUMN}",
        "fwhm_mass_signal",
        "fpd",
        "kpd",
        "two_sample_auc_low",
        "two_sample_auc_all",
    )
    return "  ".join(f"{k} {values[k]:.4g}" for k in keys if k in values)


def judge_generator(
    name: str,
    generator_path: str | os.PathLike[str],
    splits: Mapping[str, str | os.PathLike[str]],
    settings: Mapping[str, Any],
    tstr_models: Mapping[str, Mapping[str, Any]],
    columns: Sequence[str],
    *,
    seed: int,
    threads: int,
    device: str,
    outputs: Mapping[str, str | os.PathLike[str]],
    run_id: str | None = None,
    experiments: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Every fidelity metric of one generator against the reference events, train on its
    events and test on real ones, its speed against the toy's; the features and two-sample
    figures; the sample itself (for the summary's figures); the numbers added to the
    generator's MLflow run."""
    generator = sampling.load(generator_path, device)
    test = pd.read_parquet(splits["test"])
    reference = fidelity.reference_sample(test, settings["events"], seed + REFERENCE_SEED)
    labels = reference["label"].to_numpy()
    sample, tried = generator.sample(labels, seed + GENERATED_SEED)
    sample = engineer(sample)
    result = fidelity.compare(reference, sample, seed, settings, threads)
    scalars = fidelity.scalars(result)
    log.info("%s: %s", name, _headline(scalars))
    train_labels = pd.read_parquet(splits["train"], columns=["label"])["label"].to_numpy()
    tstr_train, tstr_validation = _tstr_samples(
        generator, train_labels, settings["train_on_synthetic"]["events"], seed + TSTR_SEED
    )
    tstr = fidelity.train_on_synthetic(
        tstr_train, tstr_validation, test, tstr_models, columns, seed, threads, device
    )
    log.info(
        "train on %s, test on real: %s", name, {m: round(v["auc"], 4) for m, v in tstr.items()}
    )
    speed = fidelity.generation_speed(generator, labels, seed)
    density = {}
    if hasattr(generator, "log_density"):  # a flow: its exact density, put to use
        density = fidelity.density_metrics(
            generator, reference, prior_log_odds(train_labels), seed + DENSITY_SEED
        )
        log.info(
            "%s density: classifier AUC %.4f (gap to the limit %.4f), excess log-loss %.2e, "
            "anomaly AUC %.4f, %.4f nats per event from the exact density",
            name,
            density["classifier_auc"],
            density["classifier_gap"],
            density["classifier_excess_log_loss"],
            density["anomaly_auc"],
            density["nll_excess"],
        )
    out = {
        "generator": name,
        "result": result,
        "scalars": scalars,
        "density": density,
        "train_on_synthetic": tstr,
        "speed": speed,
        "in_mass_range": len(labels) / (tried["signal"] + tried["background"]),
        "reference_events": len(reference),
    }
    io.write_json(outputs["fidelity"], out)
    io.write_parquet(outputs["sample"], sample)
    plotting.save_figure(
        figures.features_figure(reference, {name: sample}, FIDELITY_COLUMNS), outputs["features"]
    )
    rocs = {f"{k} features": {**v["roc"], "auc": v["auc"]} for k, v in result["two_sample"].items()}
    plotting.save_figure(
        figures.two_sample_figure(rocs, f"{name}: generated against real"), outputs["roc"]
    )
    if run_id and experiments:
        from mlhep.tracking import add_to_run

        run = add_to_run(experiments, run_id)
        run.log_metrics({f"fidelity_{k}": v for k, v in scalars.items() if np.isfinite(v)})
        run.log_metrics({f"density_{k}": v for k, v in density.items() if np.isfinite(v)})
        run.log_metrics({f"tstr_auc_{m}": v["auc"] for m, v in tstr.items()})
        run.log_metrics({"generator_events_per_second": speed["generator_events_per_second"]})
        for key in ("features", "roc"):
            run.log_artifact(outputs[key])
    return out


#: Rows of the summary table: (key in the scalars, what it is).
TABLE_ROWS = (
    *((f"w1_{c}", f"W1 {c}") for c in FIDELITY_COLUMNS),
    *((f"ks_{c}", f"KS {c}") for c in KS_TABLE_COLUMNS),
    ("w1_mass_signal", f"W1 {MASS_COLUMN} (signal)"),
    ("fwhm_mass_signal", f"FWHM {MASS_COLUMN} signal [GeV]"),
    ("fpd", "FPD"),
    ("kpd", "KPD"),
    ("two_sample_auc_low", "two-sample AUC, low-level"),
    ("two_sample_auc_all", "two-sample AUC, all"),
    ("bayes_w1_signal", "W1 Bayes LLR, signal"),
    ("bayes_w1_background", "W1 Bayes LLR, background"),
)


#: Rows of the summary table for generators with an exact density (a flow): (key in its
#: density metrics, what it is).
DENSITY_ROWS = (
    ("classifier_auc", "density-ratio classifier AUC"),
    ("classifier_gap", "density-ratio classifier gap to the limit"),
    ("classifier_gap_std", "density-ratio classifier gap, bootstrap std"),
    ("classifier_excess_log_loss", "density-ratio classifier excess log-loss [nats]"),
    ("anomaly_auc", "background density as anomaly score, AUC"),
    ("nll", "NLL per event [nats]"),
    ("nll_exact", "NLL per event under the exact density [nats]"),
    ("nll_excess", "NLL above the exact density [nats]"),
)


def summary_table(
    floor: Mapping[str, Any], judged: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """The fidelity table: one row per metric, the noise floor (mean and spread over seeds;
    for the FWHM the real sample's value) then each generator."""
    rows = []
    for key, label in TABLE_ROWS:
        floor_entry = floor["summary"].get(key, {"mean": np.nan, "std": np.nan})
        row = {"metric": label, "floor": floor_entry["mean"], "floor_std": floor_entry["std"]}
        for name, entry in judged.items():
            row[name] = entry["scalars"].get(key, np.nan)
        rows.append(row)
    for model in floor["train_on_real"]:
        # the AUC on the real test events (trained on real events for the floor column), and
        # its gap to the exact limit on the same events with the paired bootstrap spread
        real = floor["train_on_real"][model]
        rows.append(
            {
                "metric": f"train-on-synthetic AUC, {model}",
                "floor": real["auc"],
                "floor_std": np.nan,
                **{n: e["train_on_synthetic"][model]["auc"] for n, e in judged.items()},
            }
        )
        rows.append(
            {
                "metric": f"train-on-synthetic gap to the limit, {model}",
                "floor": real["gap"],
                "floor_std": real["gap_std"],
                **{n: e["train_on_synthetic"][model]["gap"] for n, e in judged.items()},
            }
        )

    first = next(iter(floor["train_on_real"].values()), None)
    if first is not None:
        rows.append(
            {
                "metric": "Bayes limit AUC (same test events)",
                "floor": first["limit_auc"],
                "floor_std": 0.0,
                **{n: first["limit_auc"] for n in judged},
            }
        )
    with_density = {n: e["density"] for n, e in judged.items() if e.get("density")}
    if with_density:  # rows only a generator with an exact density fills
        rows += [
            {
                "metric": label,
                "floor": np.nan,
                "floor_std": np.nan,
                **{n: d.get(key, np.nan) for n, d in with_density.items()},
            }
            for key, label in DENSITY_ROWS
        ]
    rows.append(
        {
            "metric": "generation speed / toy's",
            "floor": 1.0,
            "floor_std": 0.0,
            **{n: e["speed"]["speed_ratio"] for n, e in judged.items()},
        }
    )
    return pd.DataFrame(rows)


def summarise(
    floor_path: str | os.PathLike[str],
    fidelity_paths: Mapping[str, str | os.PathLike[str]],
    sample_paths: Mapping[str, str | os.PathLike[str]],
    test_path: str | os.PathLike[str],
    settings: Mapping[str, Any],
    *,
    seed: int,
    outputs: Mapping[str, str | os.PathLike[str]],
) -> pd.DataFrame:
    """The fidelity table (CSV) and the figures comparing every generator: the pair mass and
    the two-sample ROC curves."""
    floor = io.read_json(floor_path)
    judged = {name: io.read_json(path) for name, path in fidelity_paths.items()}
    table = summary_table(floor, judged)
    io.write_csv(outputs["table"], table)
    reference = fidelity.reference_sample(
        pd.read_parquet(test_path), settings["events"], seed + REFERENCE_SEED
    )
    samples = {name: pd.read_parquet(path) for name, path in sample_paths.items()}
    plotting.save_figure(figures.mass_figure(reference, samples), outputs["mass"])
    rocs = {"toy (floor)": floor["two_sample_roc"]["all"]}
    rocs.update(
        {
            name: {
                **e["result"]["two_sample"]["all"]["roc"],
                "auc": e["result"]["two_sample"]["all"]["auc"],
            }
            for name, e in judged.items()
        }
    )
    plotting.save_figure(
        figures.two_sample_figure(rocs, "two-sample BDT on all features"), outputs["roc"]
    )
    return table
