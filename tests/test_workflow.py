"""End to end: real Snakemake runs of the small configs, every output checked, reruns
reproducible, bad configs stopped before any job, lint and format clean."""

from __future__ import annotations

import datetime
import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
from helpers import copy_run, file_states, snakemake
from mlflow.tracking import MlflowClient

from mlhep.config import load_config
from mlhep.data.dimuon.features import ALL_FEATURES, bayes_scores
from mlhep.data.dimuon.generate import DIMUON_BRANCHES
from mlhep.generative.jobs import DENSITY_ROWS
from mlhep.models import MODELS
from mlhep.plan import Plan
from mlhep.studies.generalization import STUDIES as GENERALIZATION
from mlhep.studies.generalization.tracking import point_records

pytestmark = pytest.mark.workflow

RULES = (
    "mlflow_init",
    "generate",
    "features",
    "split",
    "bayes_optimal",
    "train",
    "train_gpu",
    "evaluate",
    "roc_comparison",
    "summary",
    "perceptron_iris",
    "loss_functions",
    "gd_comparison",
    "plot_tree",
    "bdt_shap",
    "ann_importance",
    "ensemble",
    "calibration",
    "plot_features",
    "training_curves",
    "render_report",
    "generalization_point_gpu",
    "generalization_chunk",
    "generalization_summary",
    "generalization_selection",
    "evaluate_regression",
    "z_peak",
    "train_generator",
    "generative_floor",
    "generator_fidelity",
    "generative_summary",
    "generator_ablation",
    "tune_study",
    "tune_worker",
    "tune_best",
    "evaluate_tuned",
    "tuning_summary",
    "tuning_table",
)
LINEAR = ("perceptron", "logistic", "fisher", "linear_mse", "linear_bce")
TINY = Plan(load_config(Path(__file__).resolve().parent.parent / "config/test-tiny.yaml"))
FEATURE_SETS = tuple(TINY.limit_sets("dimuon"))


def test_events_root_file_is_a_ttree(tiny: Path) -> None:
    with uproot.open(tiny / "results/data/dimuon/events.root") as f:
        assert f.keys(cycle=False) == ["events"]
        tree = f["events"]
        assert isinstance(tree, uproot.TTree) and tree.classname == "TTree"
        assert set(tree.keys()) == set(DIMUON_BRANCHES)
        assert tree.num_entries == 6000
        labels = tree["label"].array(library="np")
    assert (labels == 1).sum() == 3000
    record = json.loads((tiny / "results/data/dimuon/generation.json").read_text())
    assert record["entries"] == 6000 and record["seed"] == 7


def test_feature_and_split_parquet_schemas(tiny: Path) -> None:
    features = pd.read_parquet(tiny / "results/features/dimuon/features.parquet")
    assert list(features.columns) == ["event_id", "label", "weight", *ALL_FEATURES]
    assert len(features) == 6000
    assert features["event_id"].dtype == np.int64 and features["n_jets"].dtype == np.int32
    assert all(features[c].dtype == np.float64 for c in ALL_FEATURES if c != "n_jets")
    record = json.loads((tiny / "results/splits/dimuon/splits.json").read_text())["splits"]
    ids = {}
    for name, fraction in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        part = pd.read_parquet(tiny / f"results/splits/dimuon/{name}.parquet")
        assert list(part.columns) == list(features.columns)
        assert len(part) == record[name]["n_events"] == round(6000 * fraction)
        assert record[name]["n_signal"] == record[name]["n_background"]
        assert part.loc[part.label == 1, "weight"].sum() == pytest.approx(1000)
        assert part.loc[part.label == 0, "weight"].sum() == pytest.approx(100000)
        ids[name] = set(part["event_id"])
    assert not (
        ids["train"] & ids["validation"]
        or ids["train"] & ids["test"]
        or ids["validation"] & ids["test"]
    )
    assert ids["train"] | ids["validation"] | ids["test"] == set(features["event_id"])


def test_bayes_auc_file_and_mlflow_store(tiny: Path) -> None:
    result = json.loads((tiny / "results/evaluation/dimuon/bayes_optimal.json").read_text())
    sets = result["feature_sets"]
    assert set(sets) == set(FEATURE_SETS) == {"low", "high", "all", "mass"}
    assert sets["low"]["auc"] == sets["all"]["auc"]
    assert 0.8 < sets["high"]["auc"] < sets["low"]["auc"] < 0.97
    # The limit goes through the classifiers' evaluation, scored against itself: gap 0,
    # "consistent", excess log-loss 0 and slope 1 hold by construction. They show that the
    # evaluation handles a model at the limit (no NaN, no spurious gap), not that the limit
    # is right: that is the next block's job.
    for metrics in sets.values():
        assert metrics["n_test"] == 1200 and metrics["gap_to_bayes"] == 0.0
        assert metrics["limit_verdict"] == "consistent with the limit"
        assert metrics["excess_log_loss"] == pytest.approx(0.0, abs=1e-12)
        assert metrics["logit_slope"] == pytest.approx(1.0)
        assert metrics["ams"] > 0 and 0 < metrics["eff_at_b10"] < 1 and metrics["ks_signal"] > 0
    # What can differ: the limit's AUC by another path, from the ROOT file (uproot), the
    # physics module's exact likelihood ratio and scikit-learn's AUC, on the test events
    # named by the split; a wrong join, split, column set or AUC in the workflow shows here.
    from sklearn.metrics import roc_auc_score

    test_ids = pd.read_parquet(tiny / "results/splits/dimuon/test.parquet", columns=["event_id"])
    with uproot.open(tiny / "results/data/dimuon/events.root") as f:
        events = f["events"].arrays(library="pd").set_index("event_id")
    events = events.loc[test_ids["event_id"]]
    tiny_config = Path(__file__).resolve().parent.parent / "config/test-tiny.yaml"
    columns = load_config(tiny_config)["datasets"]["dimuon"]["feature_sets"]
    for name in ("low", "high", "mass"):
        independent = roc_auc_score(events["label"], bayes_scores(events, columns[name]))
        assert sets[name]["auc"] == pytest.approx(independent, abs=1e-9), name
    assert result["prior_log_odds"] == pytest.approx(0.0)  # equal classes in the tiny config

    experiments = json.loads((tiny / "results/mlflow/experiments.json").read_text())
    uri = experiments["tracking_uri"]
    assert uri == f"sqlite:///{tiny / 'results/mlflow/mlflow.db'}"
    with sqlite3.connect(tiny / "results/mlflow/mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    client = MlflowClient(uri)
    run = client.get_run(result["mlflow_run_id"])
    assert run.info.experiment_id == experiments["experiments"]["dimuon"]["id"]
    assert client.get_experiment(run.info.experiment_id).name == "mlhep-dimuon"
    assert run.data.metrics["low.auc"] == pytest.approx(sets["low"]["auc"])
    assert run.data.tags["snakemake_rule"] == "bayes_optimal"
    assert len(run.data.tags["params_digest"]) == 64
    assert run.data.tags["mlflow.source.name"].endswith("(Snakemake rule bayes_optimal)")
    assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == (
        "custom_model_development"
    )
    assert run.data.tags["git_commit"]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["bayes_optimal.json"]


def test_a_training_run_lasts_its_training_job(tiny: Path) -> None:
    """The evaluation adds its metrics to the training's run without reopening it: the run
    ended before the evaluation job began (the UI's Duration is the training's)."""
    experiments = json.loads((tiny / "results/mlflow/experiments.json").read_text())
    client = MlflowClient(experiments["tracking_uri"])
    checked = 0
    for metrics_file in sorted(tiny.glob("results/evaluation/dimuon/*/*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        run = client.get_run(metrics["mlflow_run_id"])
        logs = tiny / "results/logs/evaluate/dimuon"
        log = logs / metrics["model"] / f"{metrics['features']}.log"
        first = log.read_text().split(",", 1)[0]  # "YYYY-mm-dd HH:MM:SS" of its first line
        began = datetime.datetime.strptime(first, "%Y-%m-%d %H:%M:%S").timestamp()
        assert run.info.status == "FINISHED" and run.info.end_time / 1000 < began + 1, log
        assert run.data.metrics["auc"] == pytest.approx(metrics["auc"])
        checked += 1
    assert checked > 0


def test_generative_stage_judges_every_generator_and_its_events_are_a_dataset(
    tiny: Path,
) -> None:
    import mlflow

    generators = TINY.stage("generative").generators()
    assert generators == ["flow", "gan_blind", "gan_physics", "wgan_gp_physics"]
    table = pd.read_csv(tiny / "results/generative/fidelity.csv")
    assert list(table.columns) == ["metric", "floor", "floor_std", *generators]
    rows = table.set_index("metric")
    # two real samples: the two-sample BDT cannot tell them apart, the generators' it can
    floor_auc = rows.loc["two-sample AUC, all", "floor"]
    floor_std = rows.loc["two-sample AUC, all", "floor_std"]
    # two real samples: 0.5 within 0.03 (measured 0.489, spread over seeds 0.008) ...
    assert abs(floor_auc - 0.5) < 0.03 and floor_std > 0
    # ... and a few hundred steps leave every generator plain to see (measured >= 0.999)
    gans = [g for g in generators if g != "flow"]
    auc = rows.loc["two-sample AUC, all", generators]
    assert (auc > floor_auc + 20 * floor_std).all() and (auc <= 1).all(), auc
    # The README's claim, at this budget already: the GAN built with the physics (the pair
    # mass a coordinate, seen by its critic, an MMD on it in its loss) puts the mass where
    # the toy has it (W1 of m_mumu measured 5.9 GeV against 17.1 for the blind critic; two
    # real samples: 0.4 +- 0.2)
    w1 = rows.loc["W1 m_mumu", generators]
    assert w1["gan_physics"] < w1["gan_blind"] / 2, w1
    assert rows.loc["FWHM m_mumu signal [GeV]", "floor"] == pytest.approx(7.4, abs=1.5)
    limit = rows.loc["Bayes limit AUC (same test events)", "floor"]
    assert 0.85 < limit < 0.95 and rows.loc["train-on-synthetic AUC, bdt", "floor"] <= limit + 0.03
    density = [label for _, label in DENSITY_ROWS]
    assert rows.drop(index=density)[generators].notna().all().all()
    # the flow's exact density, put to use where no GAN can follow
    assert rows.loc[density, "flow"].notna().all() and rows.loc[density, gans].isna().all().all()
    assert 0.5 < rows.loc["density-ratio classifier AUC", "flow"] <= limit + 0.03
    assert rows.loc["NLL above the exact density [nats]", "flow"] > 0
    experiments = json.loads((tiny / "results/mlflow/experiments.json").read_text())
    client = MlflowClient(experiments["tracking_uri"])
    for name in generators:
        record = json.loads((tiny / f"results/generative/{name}/train.json").read_text())
        settings = record["settings"]
        assert record["history"]["step"][-1] == settings["steps"] and record["device"] == "cpu"
        run = client.get_run(record["mlflow_run_id"])
        assert run.data.tags["generator"] == name and run.data.tags["kind"] == "generator"
        loss = "validation_nll" if settings["objective"] == "flow" else "critic_loss"
        history = client.get_metric_history(run.info.run_id, loss)
        assert [m.step for m in history] == record["history"]["step"]
        assert "fidelity_fpd" in run.data.metrics and "tstr_auc_bdt" in run.data.metrics
    # the generator as a user loads it from MLflow: one event per label, in the mass range
    mlflow.set_tracking_uri(experiments["tracking_uri"])
    model = mlflow.pyfunc.load_model(record["model_uri"])
    events = model.predict(pd.DataFrame({"label": [1, 0, 1]}), params={"seed": 3})
    assert list(events["label"]) == [1, 0, 1] and events["m_mumu"].between(100, 150).all()
    # the generated dataset: the toy's branches and weights, trained on like any other
    with uproot.open(tiny / "results/data/dimuon_gan/events.root") as f:
        assert set(f["events"].keys()) == set(DIMUON_BRANCHES)
        assert f["events"].num_entries == 3000
    record = json.loads((tiny / "results/data/dimuon_gan/generation.json").read_text())
    assert (
        record["generator"] == "wgan_gp_physics" and 0 < record["mass_range_acceptance_signal"] <= 1
    )
    for model_name, sets in TINY.config["datasets"]["dimuon_gan"]["models"].items():
        for features in sets:
            metrics = tiny / f"results/evaluation/dimuon_gan/{model_name}/{features}/metrics.json"
            assert metrics.is_file()


def test_ablation_adds_each_change_to_the_plain_gan_and_keeps_what_helps(tiny: Path) -> None:
    """generative.ablation in test-tiny: gan_physics from its plain model (the options its
    config entry sets, at the GAN's defaults), each change judged on validation, the kept
    settings those of the kept rows; every candidate a child run; the table in the report."""
    from mlhep.generative import ablation

    stage = TINY.stage("generative")
    assert stage.ablated() == ["gan_physics"]
    record = json.loads((tiny / "results/generative/gan_physics/ablation.json").read_text())
    plain = {"representation": "muons", "reflect": False, "mmd_weight": 0.0, "ema_decay": 0.0}
    assert {k: record["baseline"][k] for k in plain} == plain
    assert record["baseline"]["critic"] == "physics" and record["baseline"]["steps"] == 300
    rows = record["rows"]
    # the tiny GAN's mass scale is already 3 GeV: that change is skipped, every other tried
    expected = [
        label for label, _ in ablation.CHANGES if label != "critic's mass at 3 GeV per unit"
    ]
    assert [r["change"] for r in rows] == ["baseline", *expected]
    kept_row, kept = rows[0], dict(record["baseline"])
    for row in rows[1:]:
        # judged against the last kept candidate, by the rule itself (recomputed here)
        gain = kept_row["auc_all"] - row["auc_all"]
        helps = gain > 0.004 or (
            abs(gain) <= 0.004 and row["w1_mass_signal"] < kept_row["w1_mass_signal"] - 0.1
        )
        assert row["kept"] == helps, row["change"]
        changed = {k for k in row["settings"] if row["settings"][k] != kept.get(k)}
        assert changed and changed <= ablation.CHANGED_KEYS, row["change"]
        if helps:
            kept_row, kept = row, row["settings"]
    assert record["kept"] == kept
    assert all(0.5 <= r["auc_all"] <= 1 and r["train_s"] > 0 for r in rows)
    experiments = json.loads((tiny / "results/mlflow/experiments.json").read_text())
    client = MlflowClient(experiments["tracking_uri"])
    parent = client.get_run(record["mlflow_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.data.tags["ablation_change"] for c in children) == sorted(
        r["change"] for r in rows
    )
    for child in children:
        row = next(r for r in rows if r["change"] == child.data.tags["ablation_change"])
        assert child.data.metrics["auc_all"] == pytest.approx(row["auc_all"])
        assert child.data.tags["ablation_kept"] == ("yes" if row["kept"] else "no")
    page = (tiny / "results/report/report.html").read_text()
    assert "change by change" in page
    assert all(html.escape(r["change"]) in page for r in rows)


def test_linear_classifiers_summary_and_plots(tiny: Path) -> None:
    table = pd.read_csv(tiny / "results/evaluation/summary.csv")
    assert set(table["dataset"]) == {"dimuon", "cms_dimuon", "dimuon_gan"}
    # the user's ntuples: every classifier evaluated, no exact limit to compare with
    cms = table[table["dataset"] == "cms_dimuon"]
    assert set(zip(cms["model"], cms["features"], strict=True)) == set(TINY.trained("cms_dimuon"))
    assert cms[["auc", "auc_low", "auc_high", "ks_signal", "ams"]].notna().all().all()
    assert cms[["bayes_auc", "gap_to_bayes"]].isna().all().all()
    # the pair mass tells HZZ-like from Z-like events: measured 0.842-0.854 for the three
    # models (tiny run), each with a bootstrap standard error of 0.024 (250 signal and 100
    # background test events); the floor is the lowest less three of those
    assert (cms["auc"] > 0.842 - 3 * 0.024).all(), cms["auc"]
    assert (cms["auc_std"] < 0.035).all()
    summary = table[table["dataset"] == "dimuon"]
    required = [
        "model",
        "features",
        "auc",
        "auc_low",
        "auc_high",
        "eff_at_b01",
        "eff_at_b10",
        "eff_at_b30",
        "separation",
        "ks_signal",
        "ks_p_signal",
        "ks_background",
        "ks_p_background",
        "ams",
        "ams_low",
        "ams_high",
        "ams_cut",
        "bayes_auc",
        "gap_to_bayes",
        "gap_low",
        "gap_high",
        "limit_verdict",
        "delong_p",
    ]
    assert set(required) <= set(summary.columns)
    pairs = set(zip(summary["model"], summary["features"], strict=True))
    expected = {("bayes_optimal", f) for f in FEATURE_SETS} | set(TINY.trained("dimuon"))
    assert pairs == expected
    assert {("hist_gbdt", "low"), ("bdt", "mass"), ("decision_tree", "high")} <= pairs
    assert summary[required[2:]].notna().all().all()  # the limit's row too
    trained = summary[summary["model"] != "bayes_optimal"]
    # no classifier beats the exact limit of its feature set beyond noise (paired interval)
    assert (trained["limit_verdict"] != "above the limit (check the limit)").all()
    assert (trained["gap_low"] <= trained["gap_to_bayes"]).all()
    assert (trained["gap_to_bayes"] <= trained["gap_high"]).all()
    np.testing.assert_allclose(trained["gap_to_bayes"], trained["bayes_auc"] - trained["auc"])
    # probabilities against the exact posterior: a model with probabilities has them
    scores_only = ["perceptron", "linear_mse", "autoencoder"]  # a score, no probability
    probabilistic = trained[~trained.model.isin(scores_only)]
    assert (probabilistic["excess_log_loss"] > 0).all() and (probabilistic["mean_abs_dp"] > 0).all()
    assert trained[trained.model.isin(scores_only)]["excess_log_loss"].isna().all()
    bayes = json.loads((tiny / "results/evaluation/dimuon/bayes_optimal.json").read_text())
    for f in FEATURE_SETS:
        rows = summary[summary["features"] == f]
        np.testing.assert_allclose(rows["bayes_auc"], bayes["feature_sets"][f]["auc"])
    assert (tiny / "results/evaluation/summary.md").read_text().count("| dimuon |") == len(summary)
    pngs = [
        *(tiny / "results/evaluation/dimuon").rglob("*.png"),
        *(tiny / "results/lecture").rglob("*.png"),
    ]
    studies = list((tiny / "results/studies/dimuon").rglob("*.png"))
    # evaluate: 2 per trained pair; a ROC comparison per feature set; GD 1; training curves
    # per model with steps; Iris 2 and losses 1
    entry = TINY.manifest()["datasets"]["dimuon"]
    n_trained = len(TINY.trained("dimuon"))
    expected = 2 * n_trained + len(entry["roc"]) + len(entry["calibration"]) + 1
    assert len(pngs) == expected + len(entry["training"]) + 3
    # tree, SHAP per BDT, importance per ANN, ensemble
    assert len(studies) == sum(len(files) for files in entry["studies"].values())
    pngs += studies
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_perceptron_separates_iris_in_the_workflow(tiny: Path) -> None:
    result = json.loads((tiny / "results/lecture/perceptron_iris/result.json").read_text())
    assert result["training_errors"] == 0 and result["agrees_with_sklearn"]
    assert result["errors_per_epoch"][-1] == 0
    assert result["epochs_to_zero_errors"] == len(result["errors_per_epoch"])


def test_logged_model_reloads_with_identical_predictions(tiny: Path) -> None:
    import mlflow

    uri = json.loads((tiny / "results/mlflow/experiments.json").read_text())["tracking_uri"]
    mlflow.set_tracking_uri(uri)
    test = pd.read_parquet(tiny / "results/splits/dimuon/test.parquet")
    for model in LINEAR:
        record = json.loads((tiny / f"results/models/dimuon/{model}/all/train.json").read_text())
        run = mlflow.get_run(record["mlflow_run_id"])
        assert run.data.tags["model"] == model and run.data.tags["features"] == "all"
        assert "auc" in run.data.metrics and "gap_to_bayes" in run.data.metrics
        for key in ("gap_low", "gap_high", "ams_low", "ks_signal"):  # the new numbers too
            assert key in run.data.metrics, key
        if model != "perceptron" and model != "linear_mse":
            assert "excess_log_loss" in run.data.metrics
        assert run.data.tags["limit_verdict"] in ("consistent with the limit", "below the limit")
        loaded = mlflow.sklearn.load_model(record["model_uri"])
        assert {d.dataset.name for d in run.inputs.dataset_inputs} == {
            f"dimuon-{s}" for s in ("train", "validation", "test")
        }
        x = test[record["columns"]].astype(float)
        predictions = pd.read_parquet(
            tiny / f"results/models/dimuon/{model}/all/predictions.parquet"
        )
        np.testing.assert_array_equal(
            loaded.decision_function(x), predictions.loc[predictions.split == "test", "score"]
        )


def test_bdt_and_ann_reload_from_mlflow_with_identical_predictions(tiny: Path) -> None:
    import mlflow
    import torch
    import xgboost as xgb

    uri = json.loads((tiny / "results/mlflow/experiments.json").read_text())["tracking_uri"]
    mlflow.set_tracking_uri(uri)
    test = pd.read_parquet(tiny / "results/splits/dimuon/test.parquet")
    for model in ("bdt", "ann"):
        record = json.loads((tiny / f"results/models/dimuon/{model}/low/train.json").read_text())
        run = mlflow.get_run(record["mlflow_run_id"])
        history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "validation_loss")
        assert len(history) == len(record["curves"]["validation_loss"]) > 1
        x = test[record["columns"]]
        stored = pd.read_parquet(tiny / f"results/models/dimuon/{model}/low/predictions.parquet")
        expected = stored.loc[stored.split == "test", "score"].to_numpy()
        if model == "bdt":
            booster = mlflow.xgboost.load_model(record["model_uri"])
            margin = booster.predict(xgb.DMatrix(x.astype(float)), output_margin=True)
            np.testing.assert_array_equal(margin, expected)
        else:
            net = mlflow.pytorch.load_model(record["model_uri"])
            with torch.no_grad():
                logit = net(torch.as_tensor(x.to_numpy(np.float32))).double().numpy()
            np.testing.assert_allclose(logit, expected, rtol=1e-6, atol=1e-6)
            # the pyfunc flavour (what `mlflow models serve` runs) agrees too
            pyfunc = mlflow.pyfunc.load_model(record["model_uri"])
            np.testing.assert_allclose(
                np.ravel(pyfunc.predict(x.to_numpy(np.float32))), expected, rtol=1e-6, atol=1e-6
            )


def test_studies_outputs(tiny: Path) -> None:
    shap = json.loads((tiny / "results/studies/dimuon/bdt/high/shap.json").read_text())
    assert {r["feature"] for r in shap["ranking"]} == set(
        json.loads((tiny / "results/models/dimuon/bdt/high/train.json").read_text())["columns"]
    )
    assert shap["ranking"][0]["feature"] == "m_mumu"  # the resonance is found by its mass
    importance = json.loads((tiny / "results/studies/dimuon/ann/high/importance.json").read_text())
    assert importance["importance"][0]["feature"] == "m_mumu"
    for folder in ("ensemble", "bdt_bootstrap"):
        ensemble = json.loads(
            (tiny / f"results/studies/dimuon/{folder}/high/ensemble.json").read_text()
        )
        assert ensemble["members"] == 2 and ensemble["mean_spread"] > 0
        # the spread against the true error: coverage rises with k, to 1 far out
        assert 0 < ensemble["coverage_1"] <= ensemble["coverage_2"] <= ensemble["coverage_3"] <= 1
        assert ensemble["coverage"] == sorted(ensemble["coverage"])
        assert ensemble["spread_scale_68"] > 0 and -1 <= ensemble["spearman_spread_error"] <= 1


def test_every_rule_logged(tiny: Path) -> None:
    logs = {
        p.relative_to(tiny / "results/logs").parts[0].removesuffix(".log")
        for p in (tiny / "results/logs").rglob("*.log")
    }
    assert logs == set(RULES)
    # every job that ran a script says what it cost (the scheduler samples nothing); a BDT
    # training takes a second or so of CPU, where a tiny job may round to 0.0 s
    trainings = sorted((tiny / "results/logs/train_gpu/dimuon/bdt").glob("*.log"))
    assert trainings
    for log in trainings:
        done = re.search(
            r"done in [\d.]+ s \(CPU ([\d.]+) s, peak memory (\d+) MB\)", log.read_text()
        )
        assert done and float(done[1]) > 0.1 and int(done[2]) > 50, (log, done)
    assert not (tiny / "results/benchmarks").exists()


def test_local_jobs_ran_in_the_warm_worker(tiny: Path) -> None:
    """The tiny run handed its jobs to the invocation's warm worker (mlhep.worker), whose
    log names each job's script and exit status; only jobs that started while it was still
    importing ran in their own process (measured: 151 of 158 in the worker)."""
    log = (tiny / ".snakemake/warm-worker.log").read_text()
    started = re.findall(r"job (\d+): (\S+)", log)
    ended = dict(re.findall(r"job (\d+) ended: (-?\d+)", log))
    assert len(started) > 100, log
    assert all(ended[pid] == "0" for pid, _ in started)
    scripts = {Path(script).stem for _, script in started}
    assert {"train", "evaluate", "train_generator", "render_report"} <= scripts, scripts


def test_noop_rerun_does_nothing(repo: Path, tiny: Path) -> None:
    proc = snakemake(
        repo, tiny, "--cores", "2", "--configfile", str(repo / "config/test-tiny.yaml")
    )
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_second_run_reproduces_splits_and_metrics(repo: Path, tiny: Path, tmp_path: Path) -> None:
    targets = [
        "results/splits/dimuon/splits.json",
        "results/evaluation/dimuon/bayes_optimal.json",
        *(f"results/evaluation/dimuon/{m}/low/metrics.json" for m in ("perceptron", "linear_bce")),
        "results/models/pulse/pulse_mlp/samples/predictions.parquet",
        "results/splits/cms_dimuon/splits.json",
    ]
    config = str(repo / "config/test-tiny.yaml")
    # every job in its own process: the tiny run's ran in the warm worker, so equal results
    # also show that a forked job computes what a fresh interpreter does
    in_place = {"MLHEP_WARM_WORKER": "0"}
    proc = snakemake(repo, tmp_path, *targets, "--cores", "2", "--configfile", config, env=in_place)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / ".snakemake/warm-worker.log").exists()
    for rel in (
        "results/splits/dimuon/splits.json",
        "results/data/dimuon/generation.json",
        "results/splits/cms_dimuon/splits.json",
    ):
        assert (tmp_path / rel).read_text() == (tiny / rel).read_text()
    first = json.loads((tiny / "results/evaluation/dimuon/bayes_optimal.json").read_text())
    second = json.loads((tmp_path / "results/evaluation/dimuon/bayes_optimal.json").read_text())
    assert first["feature_sets"] == second["feature_sets"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(tiny / "results/features/dimuon/features.parquet"),
        pd.read_parquet(tmp_path / "results/features/dimuon/features.parquet"),
    )
    for model in ("perceptron", "linear_bce"):
        a, b = (
            json.loads((d / f"results/evaluation/dimuon/{model}/low/metrics.json").read_text())
            for d in (tiny, tmp_path)
        )
        a.pop("mlflow_run_id"), b.pop("mlflow_run_id")
        assert a == b, model
    # the pulses, their splits and a network's predictions (on the CPU) too
    rel = "results/models/pulse/pulse_mlp/samples/predictions.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(tiny / rel), pd.read_parquet(tmp_path / rel))


def test_disabled_stages_are_not_run(minimal: Path) -> None:
    tmp_path = minimal
    assert (tmp_path / "results/splits/dimuon/test.parquet").exists()
    assert not (tmp_path / "results/evaluation").exists()
    assert not (tmp_path / "results/models").exists()
    assert not (tmp_path / "results/lecture").exists()
    assert not (tmp_path / "results/studies").exists()
    experiments = json.loads((tmp_path / "results/mlflow/experiments.json").read_text())
    # the generalization experiment is always made (switching studies on re-runs nothing)
    assert set(experiments["experiments"]) == {"dimuon", "generalization"}
    assert experiments["experiments"]["dimuon"]["name"] == "tiny-dimuon"


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("splits: {train: 0.5, validation: 0.2, test: 0.2}\n", "'splits'"),
        ("datasets: {dimuon: {n_signal: -3}}\n", "'datasets.dimuon.n_signal'"),
        ("models: {svm: {activate: true}}\n", "'models.svm'"),
        (
            "datasets: {dimuon: {limit: [huge]}}\n",
            "'datasets.dimuon.limit'",
        ),
    ],
)
def test_snakemake_stops_bad_config_before_any_job(
    repo: Path, tmp_path: Path, yaml_text: str, key: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = snakemake(repo, workdir, "--cores", "2", "--configfile", str(config))
    assert proc.returncode != 0
    assert f"config key {key}" in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_snakemake_lint_is_clean(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    # Snakemake exits 1 when it lints anything; its all-clear line is printed only then
    assert proc.returncode == 0, output
    assert "Congratulations, your workflow is in a good condition!" in output, output


def test_snakefmt_check_is_clean(repo: Path) -> None:
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    assert snakefmt, "snakefmt is not installed beside this Python"
    files = [repo / "Snakefile", *sorted((repo / "workflow/rules").glob("*.smk"))]
    proc = subprocess.run([snakefmt, "--check", *map(str, files)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean(repo: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff, "ruff is not installed beside this Python"
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run([ruff, *args], cwd=repo, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def job_counts(output: str) -> dict[str, int]:
    """The job counts per rule of a dry run's "Job stats" table."""
    lines = output[output.index("Job stats:") :].splitlines()[3:]
    counts = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def scheduled_outputs(output: str) -> set[str]:
    """Every output file of every job a dry run lists (its ``output:`` lines)."""
    return {
        path.strip()
        for line in output.splitlines()
        if line.startswith("    output: ")
        for path in line.removeprefix("    output: ").split(",")
    }


def _add(*parts: dict[str, int]) -> dict[str, int]:
    """Job counts summed rule by rule, rules without a job left out (as a dry run lists)."""
    out: dict[str, int] = {}
    for part in parts:
        for rule, n in part.items():
            out[rule] = out.get(rule, 0) + n
    return {rule: n for rule, n in out.items() if n}


def _classifier_jobs(d: str) -> dict[str, dict[str, int]]:
    """Per classification dataset: the jobs each kind of change re-runs there."""
    trained = TINY.trained(d)
    gpu = [(m, f) for m, f in trained if MODELS[m].gpu]
    gpu_sets = {f for _, f in gpu}
    bdt_sets = TINY.feature_sets_of(d, "bdt")
    calibrated = TINY.calibration_sets(d)
    studies = TINY.stage("model_studies").files(d)
    shap, importance, tree = (len(studies.get(k, {})) for k in ("shap", "importance", "tree"))
    ensemble, bootstrap = (int(k in studies) for k in ("ensemble", "bdt_bootstrap"))
    curves = TINY.curve_models(d)
    return {
        "bdt": {
            "train_gpu": len(bdt_sets),
            "evaluate": len(bdt_sets),
            "roc_comparison": len(bdt_sets),
            "calibration": len(set(bdt_sets) & set(calibrated)),
            "training_curves": int("bdt" in curves),
            "bdt_shap": shap,
            "ensemble": bootstrap,
        },
        "evaluation": {"evaluate": len(trained)},
        "limit": {"bayes_optimal": int(bool(TINY.limit_sets(d)))},
        "shap": {"bdt_shap": shap},
        "device": {
            "train_gpu": len(gpu),
            "evaluate": len(gpu),
            "roc_comparison": len(gpu_sets),
            "calibration": len(gpu_sets & set(calibrated)),
            "training_curves": sum(MODELS[m].gpu for m in curves),
            "bdt_shap": shap,
            "ann_importance": importance,
            "ensemble": ensemble + bootstrap,
        },
        "splits": {
            "split": 1,
            "bayes_optimal": int(bool(TINY.limit_sets(d))),
            "train": len(trained) - len(gpu),
            "train_gpu": len(gpu),
            "evaluate": len(trained),
            "roc_comparison": len(TINY.trained_sets(d)),
            "calibration": len(calibrated),
            "training_curves": len(curves),
            "gd_comparison": int(bool(TINY.stage("lecture").gd_records(d))),
            "plot_tree": tree,
            "bdt_shap": shap,
            "ann_importance": importance,
            "ensemble": ensemble + bootstrap,
        },
    }


def rerun_cases() -> list[tuple[str, dict, dict[str, int]]]:
    """(key, change to test-tiny, the jobs a dry run must schedule): derived from the plan."""
    d = "dimuon"
    per = {c: _classifier_jobs(c) for c in TINY.classification_datasets}
    # the datasets sampled from a generator re-run whole when their generator does
    generated = [n for n in per if TINY.kind(n).name == "generated"]
    real = [n for n in per if n not in generated]

    def every(change: str, names: list[str] | None = None) -> dict[str, int]:
        return _add(*(per[n][change] for n in (list(per) if names is None else names)))

    gens = TINY.stage("generative").generators()
    judged = {"generative_floor": 1, "generator_fidelity": len(gens), "generative_summary": 1}
    ablated = TINY.stage("generative").ablated()
    retrained = _add(
        judged,
        {"train_generator": len(gens), "generator_ablation": len(ablated)},
        *({"generate": 1, "features": 1, "plot_features": 1} for _ in generated),
        every("splits", generated),
    )
    sampled = {TINY.config["datasets"][n]["generator"] for n in generated}
    gan_only = [
        g
        for g in gens
        if TINY.stage("generative").settings(g)["objective"] == "gan" and g not in sampled
    ]

    # the searches: a study starts afresh when what it means changes (its model's settings,
    # the splits, the seed); a worker's params (trials, device) re-run the workers, which
    # continue the study; the evaluation's settings re-judge the tuned models
    tuning = TINY.stage("tuning")
    searched = [m for _, m, _ in tuning.searches()]
    n_workers = len(tuning.workers())

    def tuned(models: list[str], study: bool = True, workers: bool = True) -> dict[str, int]:
        n = len(models)
        return {
            "tune_study": n * study,
            "tune_worker": n * n_workers * workers,
            "tune_best": n * workers,
            "evaluate_tuned": n,
            "tuning_summary": n,
            "tuning_table": int(n > 0),
        }

    final = {"summary": 1, "render_report": 1, "all": 1}
    mass_models = TINY.models_on(d, "mass")
    # the pulse datasets: their regressors (the networks on the GPU rule) and evaluation
    regressed = [(r, m) for r in TINY.regression_datasets for m, _ in TINY.trained(r)]
    nets = sum(m in ("pulse_mlp", "pulse_cnn") for _, m in regressed)
    pulse_training = {
        "train": len(regressed) - nets,
        "train_gpu": nets,
        "evaluate_regression": len(TINY.regression_datasets),
    }
    studies = TINY.stage("generalization").studies()
    on_data = [s for s in studies if GENERALIZATION[s].data == "dataset"]
    on_gpu = [s for s in studies if GENERALIZATION[s].gpu]
    pulse = [s for s in studies if GENERALIZATION[s].data == "pulse"]
    downstream_of_splits = _add(
        every("splits", real),
        final,
        pulse_training,
        {"split": len(TINY.regression_datasets)},
        generalization_jobs(on_data),
        retrained,
        tuned(searched),
    )
    pulse_data = {"generate": 1, "features": 1, "split": 1, **pulse_training}
    # the summaries drawn against the limit follow it (the limit's file is their input)
    limit_summaries = {
        "generalization_summary": sum(bool(TINY.stage("generalization").limit(s)) for s in studies),
        "generalization_selection": 1,
    }
    depths = TINY.config["studies"]["generalization"]["bdt_capacity"]["max_depth"]
    # datasets generated from the seed (the user's ntuples are not), and the Z fit's toys
    seeded = [n for n in TINY.datasets if TINY.kind(n).seeded and n not in generated]
    z_peak = {"z_peak": int(TINY.stage("z_peak").dataset() is not None)}
    return [
        (
            "models.bdt.max_depth",
            {"models": {"bdt": {"max_depth": 3}}},
            _add(every("bdt"), final, judged, tuned([m for m in searched if m == "bdt"])),
        ),  # train-on-synthetic trains the BDT
        (
            "evaluation.confidence_level",
            {"evaluation": {"confidence_level": 0.9}},
            _add(
                every("limit"),
                every("evaluation"),
                final,
                limit_summaries,
                tuned(searched, study=False, workers=False),
            ),
        ),
        (
            "evaluation.calibration",
            {"evaluation": {"calibration": ["platt"]}},  # not the limit's
            _add(every("evaluation"), final, tuned(searched, study=False, workers=False)),
        ),
        # more trials: the workers continue the studies, which are not created again
        (
            "studies.tuning.trials",
            {"studies": {"tuning": {"trials": 8}}},
            _add(tuned(searched, study=False), {"render_report": 1, "all": 1}),
        ),
        (
            "studies.shap.n_events",
            {"studies": {"shap": {"n_events": 400}}},
            _add(every("shap"), {"render_report": 1, "all": 1}),
        ),
        (
            "device",
            {"device": "cpu"},
            _add(
                every("device", real),
                final,
                {"train_gpu": nets, "evaluate_regression": 1},
                generalization_jobs(on_gpu),
                retrained,
                tuned(searched, study=False),
            ),
        ),
        (
            "datasets.dimuon.feature_sets.mass",
            {
                "datasets": {
                    d: {"feature_sets": {**TINY.feature_sets(d), "mass": ["m_mumu", "n_jets"]}}
                }
            },
            {
                "bayes_optimal": 1,
                "train": len(mass_models) - 1,
                "train_gpu": 1,
                "evaluate": len(mass_models),
                "roc_comparison": 1,
                "calibration": 1,
                "summary": 1,
                "training_curves": 1,
                "bdt_shap": 1,
                "render_report": 1,
                "all": 1,
                **limit_summaries,
            },
        ),
        (
            "splits",
            {"splits": {"train": 0.5, "validation": 0.3, "test": 0.2}},
            downstream_of_splits,
        ),
        (
            "seed",
            {"seed": 8},
            {
                **_add(
                    downstream_of_splits,
                    {
                        "generate": len(seeded),
                        "features": len(seeded),
                        "plot_features": sum(n in TINY.classification_datasets for n in seeded),
                        "perceptron_iris": 1,
                    },
                    z_peak,
                ),
                **generalization_jobs(studies),
            },
        ),
        # one more grid value: its points (one per depth), the summary, the table, the report
        (
            "studies.generalization.bdt_capacity.n_estimators",
            {"studies": {"generalization": {"bdt_capacity": {"n_estimators": [5, 50, 7]}}}},
            {
                "generalization_point_gpu": len(depths),
                "generalization_summary": 1,
                "generalization_selection": 1,
                "render_report": 1,
                "all": 1,
            },
        ),
        # a cheap study's new grid value joins one of its jobs (a hash of the point's
        # name): that job re-runs, its other jobs do not
        (
            "studies.generalization.polynomial_degree.degree",
            {"studies": {"generalization": {"polynomial_degree": {"degree": [1, 6, 2]}}}},
            {
                "generalization_chunk": 1,
                "generalization_summary": 1,
                "generalization_selection": 1,
                "render_report": 1,
                "all": 1,
            },
        ),
        (
            "studies.generalization.pulse.noise",
            {"studies": {"generalization": {"pulse": {"noise": 0.1}}}},
            {**generalization_jobs(pulse), "render_report": 1, "all": 1},
        ),
        (
            "studies.generalization.activate",
            {"studies": {"generalization": {"activate": False}}},
            {"render_report": 1, "all": 1},
        ),
        # the pulse dataset: its readout re-runs it alone; its evaluation and one network
        (
            "datasets.pulse.pileup_probability",
            {"datasets": {"pulse": {"pileup_probability": 0.5}}},
            {**pulse_data, "render_report": 1, "all": 1},
        ),
        (
            "evaluation.regression.phase_bins",
            {"evaluation": {"regression": {"phase_bins": 4}}},
            {"evaluate_regression": 1, "render_report": 1, "all": 1},
        ),
        (
            "models.pulse_cnn.channels",
            {"models": {"pulse_cnn": {"channels": 5}}},
            {"train_gpu": 1, "evaluate_regression": 1, "render_report": 1, "all": 1},
        ),
        # the user's ntuples: a changed cut re-reads them and re-runs their dataset alone
        (
            "datasets.cms_dimuon.cut",
            {"datasets": {"cms_dimuon": {"cut": "mu_minus_pt > 25"}}},
            _add(
                {"generate": 1, "features": 1, "plot_features": 1},
                per["cms_dimuon"]["splits"],
                final,
                z_peak,
            ),
        ),
        (
            "studies.z_peak.window",
            {"studies": {"z_peak": {"window": [75.0, 105.0]}}},
            {**z_peak, "render_report": 1, "all": 1},
        ),
        # the generators: a GAN's steps re-train the GANs alone (no dataset samples them);
        # the fidelity's sample size re-judges every generator, trains none
        (
            "models.gan.steps",
            {"models": {"gan": {"steps": 200}}},
            {
                "train_generator": len(gan_only),
                "generator_fidelity": len(gan_only),
                # the ablations of GANs start from the GAN's steps too
                "generator_ablation": sum(
                    TINY.stage("generative").settings(g)["objective"] == "gan" for g in ablated
                ),
                "generative_summary": 1,
                "render_report": 1,
                "all": 1,
            },
        ),
        (
            "generative.events",
            {"generative": {"events": 800}},
            {**judged, "render_report": 1, "all": 1},
        ),
    ]


def generalization_jobs(studies: list[str]) -> dict[str, int]:
    """The jobs that re-run every point of ``studies`` (one per point of a study that trains
    a BDT or an MLP; the cheap studies' chunks)."""
    jobs = {"generalization_point_gpu": 0, "generalization_chunk": 0}
    stage = TINY.stage("generalization")
    for study in studies:
        if GENERALIZATION[study].chunked:
            jobs["generalization_chunk"] += len(stage.chunks(study))
        else:
            jobs["generalization_point_gpu"] += len(stage.points(study))
    jobs = {rule: n for rule, n in jobs.items() if n}
    if jobs:
        jobs.update({"generalization_summary": len(studies), "generalization_selection": 1})
    return jobs


def deep_update(base: dict, change: dict) -> dict:
    """``base`` with ``change`` merged in, nested dicts key by key."""
    out = dict(base)
    for key, value in change.items():
        out[key] = deep_update(out[key], value) if isinstance(value, dict) and key in out else value
    return out


#: What a change to test-tiny must re-make, written out by hand (not from ``Plan``, which
#: derives the counts above and the rules' inputs alike): every output file of every job.
REPORT = {"results/report/report.html", "results/report/report.ipynb"}
SELECTION = {f"results/studies/generalization/selection.{ext}" for ext in ("csv", "md")}


def _study(study: str, *points: str) -> set[str]:
    """A generalization study's summary files and the given point or chunk files."""
    root = f"results/studies/generalization/{study}"
    summary = {f"{root}/points.csv", f"{root}/summary.json", f"{root}/{study}.png"}
    return summary | {f"{root}/{point}.json" for point in points}


def _generator(name: str, *, trained: bool = False, ablated: bool = False) -> set[str]:
    """A generator's judged files (and its trained ones, and its ablation)."""
    root = f"results/generative/{name}"
    files = {f"{root}/{f}" for f in ("fidelity.json", "sample.parquet", "features.png", "roc.png")}
    files |= (
        {f"{root}/{f}" for f in ("generator.pt", "train.json", "history.png")} if trained else set()
    )
    return files | ({f"{root}/ablation.json"} if ablated else set())


GENERATIVE_SUMMARY = {f"results/generative/{f}" for f in ("fidelity.csv", "mass.png", "roc.png")}
PULSE_EVALUATION = {
    f"results/evaluation/pulse/regression/{f}"
    for f in (
        "coverage.png",
        "phase.png",
        "phase_bias.csv",
        "phase_bias.png",
        "pileup_threshold.png",
        "pulls.png",
        "pulses.png",
        "resolution.csv",
        "resolution.png",
        "summary.json",
        "training.png",
    )
}
Z_PEAK = {f"results/studies/cms_dimuon/z_peak/{f}" for f in ("fit.json", "fit.png", "gof.png")}
HAND_WRITTEN = {
    # SHAP of every BDT that has it: both toys' feature sets, the generated set, CMS
    "studies.shap.n_events": REPORT
    | {
        f"results/studies/{dataset}/bdt/{features}/shap.{ext}"
        for dataset, features in (
            ("dimuon", "low"),
            ("dimuon", "high"),
            ("dimuon", "all"),
            ("dimuon", "mass"),
            ("dimuon_gan", "all"),
            ("cms_dimuon", "all"),
        )
        for ext in ("json", "png")
    },
    # the new point's own job (depth 2, 7 trees) and the study's summary
    "studies.generalization.bdt_capacity.n_estimators": REPORT
    | SELECTION
    | _study("bdt_capacity", "points/max_depth~2_n_estimators~7"),
    # the cheap study's chunk that the new degree hashes into (chunk 1 of its chunks)
    "studies.generalization.polynomial_degree.degree": REPORT
    | SELECTION
    | _study("polynomial_degree", "chunks/1"),
    "evaluation.regression.phase_bins": REPORT | PULSE_EVALUATION,
    "models.pulse_cnn.channels": REPORT
    | PULSE_EVALUATION
    | {
        f"results/models/pulse/pulse_cnn/samples/{f}"
        for f in ("model", "predictions.parquet", "train.json")
    },
    "studies.z_peak.window": REPORT | Z_PEAK,
    # the GANs no dataset samples, trained and judged again; the GAN's ablation
    "models.gan.steps": REPORT
    | GENERATIVE_SUMMARY
    | _generator("gan_blind", trained=True)
    | _generator("gan_physics", trained=True, ablated=True),
    # every generator judged again, none trained; the floor
    "generative.events": REPORT
    | GENERATIVE_SUMMARY
    | {"results/generative/floor.json"}
    | set().union(
        *(_generator(g) for g in ("flow", "gan_blind", "gan_physics", "wgan_gp_physics"))
    ),
}


def test_config_changes_rerun_exactly_the_dependent_jobs(repo: Path, tiny: Path) -> None:
    """A dry run after each change schedules the jobs counted by :func:`rerun_cases` and,
    where :data:`HAND_WRITTEN` lists them, exactly those output files. The dry runs go
    side by side, one per core (a dry run takes no lock and writes no result)."""
    from concurrent.futures import ThreadPoolExecutor

    import yaml

    base = yaml.safe_load((repo / "config/test-tiny.yaml").read_text())
    table = []
    cases = rerun_cases()
    assert set(HAND_WRITTEN) < {key for key, _, _ in cases}

    def dry_run(key: str, change: dict) -> subprocess.CompletedProcess:
        config = tiny / f"rerun-{key}.yaml"
        config.write_text(yaml.safe_dump(deep_update(base, change)))
        try:
            return snakemake(repo, tiny, "-n", "--cores", "2", "--configfile", str(config))
        finally:
            config.unlink()

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        runs = [pool.submit(dry_run, key, change) for key, change, _ in cases]
    for (key, _, expected), run in zip(cases, runs, strict=True):
        proc = run.result()
        assert proc.returncode == 0, proc.stdout + proc.stderr
        got = job_counts(proc.stdout)
        table.append(f"{key}: {sum(got.values())} jobs {got}")
        assert got == expected, key
        if key in HAND_WRITTEN:
            assert scheduled_outputs(proc.stdout) == HAND_WRITTEN[key], key
    print("\n".join(table))


def test_a_change_re_executes_exactly_what_it_affects(
    repo: Path, tiny: Path, tmp_path: Path
) -> None:
    """Two changes re-executed for real, on a copy of the tiny run with a store of its own:
    one more polynomial degree and another Z-peak window. The files written out by hand in
    :data:`HAND_WRITTEN` are made again (newer; the new point's chunk, the study's table and
    the fit different), every other result keeps its modification time and its bytes (the
    logs, the MLflow store and Snakemake's records, which every job writes to, aside)."""
    import yaml

    work = copy_run(tiny, tmp_path / "copy")
    skip = (".snakemake/", "results/logs/", "results/mlflow/")
    before = file_states(work, skip)
    keys = ("studies.generalization.polynomial_degree.degree", "studies.z_peak.window")
    changes = {key: change for key, change, _ in rerun_cases() if key in keys}
    config = yaml.safe_load((repo / "config/test-tiny.yaml").read_text())
    for key in keys:
        config = deep_update(config, changes[key])
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(repo, work, "--cores", "2", "--configfile", str(tmp_path / "changed.yaml"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    after = file_states(work, skip)
    expected = set().union(*(HAND_WRITTEN[key] for key in keys))
    remade = {p for p in after if after[p][0] != before.get(p, (None,))[0]}
    assert remade == expected, sorted(remade ^ expected)
    assert after.keys() == before.keys()  # nothing new, nothing lost
    assert all(after[p][0] > before[p][0] for p in remade)
    different = {p for p in remade if after[p][1] != before[p][1]}
    must_differ = {
        "results/studies/generalization/polynomial_degree/chunks/1.json",
        "results/studies/generalization/polynomial_degree/points.csv",
        "results/studies/cms_dimuon/z_peak/fit.json",
    }
    assert must_differ <= different, sorted(must_differ - different)
    # the changed fit is the new window's
    fit = json.loads((work / "results/studies/cms_dimuon/z_peak/fit.json").read_text())
    assert fit["window"] == [75.0, 105.0]


def test_nested_config_override_from_the_command_line(repo: Path, tiny: Path) -> None:
    config = str(repo / "config/test-tiny.yaml")
    proc = snakemake(
        repo,
        tiny,
        "-n",
        "--cores",
        "2",
        "--configfile",
        config,
        "--config",
        "evaluation={bootstrap_resamples: 50}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = job_counts(proc.stdout)
    # the number arrived as one: the evaluations and the limit re-run with it
    limited = sum(
        bool(TINY.stage("generalization").limit(s)) for s in TINY.stage("generalization").studies()
    )
    trained = sum(len(TINY.trained(d)) for d in TINY.classification_datasets)
    searches = len(TINY.stage("tuning").searches())  # the tuned models are evaluated again
    assert got == {
        "bayes_optimal": 1,
        "evaluate": trained,
        "summary": 1,
        "render_report": 1,
        "all": 1,
        "generalization_summary": limited,
        "generalization_selection": 1,
        "evaluate_tuned": searches,
        "tuning_summary": searches,
        "tuning_table": 1,
    }


def test_scripts_never_read_the_config(repo: Path) -> None:
    for script in (repo / "workflow/scripts").glob("*.py"):
        assert "snakemake.config" not in script.read_text(), script.name


def test_only_the_dimuon_plugin_names_its_columns(repo: Path) -> None:
    import yaml

    columns = [c for c in ALL_FEATURES if c not in ("n_jets", "met", "met_phi")] + ["n_jets"]
    plugin = repo / "workflow/mlhep/data/dimuon"
    files = [
        *(repo / "workflow/rules").glob("*.smk"),
        *(repo / "workflow/scripts").glob("*.py"),
        *(repo / "workflow/notebooks").glob("*.ipynb"),
        *(p for p in (repo / "workflow/mlhep").rglob("*.py") if plugin not in p.parents),
        repo / "workflow/schemas/config.schema.yaml",
        repo / "Snakefile",
    ]
    for path in files:
        text = path.read_text()
        if path.name == "config.schema.yaml":  # less its defaults, which are config data
            schema = yaml.safe_load(text)
            del schema["properties"]["datasets"]["default"]
            del schema["properties"]["studies"]["properties"]["z_peak"]["properties"]["column"][
                "default"
            ]
            text = yaml.safe_dump(schema)
        found = [c for c in columns if c in text]
        assert not found, (path, found)


def test_two_datasets_of_one_kind_side_by_side(repo: Path, tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "two.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "datasets": {
                    "dimuon": {"n_signal": 3000, "n_background": 3000, "models": {}},
                    "small": {
                        "kind": "dimuon",
                        "n_signal": 1000,
                        "n_background": 1000,
                        "feature_sets": {"pair": ["m_mumu", "n_jets"]},
                        "models": {"logistic": ["pair"], "bdt": ["pair"]},
                    },
                },
                "studies": {"ensemble": {"activate": False}},
            }
        )
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = snakemake(repo, workdir, "-n", "--cores", "2", "--configfile", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = job_counts(proc.stdout)
    assert got["generate"] == got["features"] == got["split"] == 2
    assert got["train"] == got["train_gpu"] == 1 and got["evaluate"] == 2
    assert got["bayes_optimal"] == 2  # each dataset's own limits (`pair` has one)
    for path in (
        "results/data/small/events.root",
        "results/models/small/bdt/pair/train.json",
        "results/evaluation/small/roc_pair.png",
    ):
        assert path in proc.stdout, path


def test_generalization_studies_in_the_workflow(tiny: Path) -> None:
    root = tiny / "results/studies/generalization"
    selection = pd.read_csv(root / "selection.csv")
    studies = TINY.stage("generalization").studies()
    chosen = [s for s in studies if GENERALIZATION[s].select]
    # one row per study that chooses (learning curves: one per model), none for the others
    models = TINY.config["studies"]["generalization"]["learning_curve"]["model"]
    assert sorted(selection["study"]) == sorted(
        [s for s in chosen if s != "learning_curve"] + ["learning_curve"] * len(models)
    )
    client = MlflowClient(
        json.loads((tiny / "results/mlflow/experiments.json").read_text())["tracking_uri"]
    )
    for study in studies:
        summary = json.loads((root / study / "summary.json").read_text())
        stage = TINY.stage("generalization")
        files = [tiny / f for f in stage.result_files(study)]
        points = point_records(files, list(stage.points(study)))
        assert summary["points"] == len(points) == len(TINY.stage("generalization").points(study))
        assert (root / study / f"{study}.png").stat().st_size > 10_000
        # every point's run is a child of the study's parent run
        for point in points:
            run = client.get_run(point["mlflow_run_id"])
            assert run.data.tags["mlflow.parentRunId"] == summary["mlflow_run_id"], study
            assert run.data.tags["study"] == study and run.info.status == "FINISHED"
        row = selection[selection["study"] == study]
        for _, r in row.iterrows():  # the choice is the best validation score of its group
            entry = GENERALIZATION[study]
            group = [
                p
                for p in points
                if not entry.group
                or f"{entry.group} = {p['point'][entry.group]}," in r["chosen"] + ","
            ]
            values = [p["result"][entry.select] for p in group]
            assert r["validation"] == pytest.approx(max(values) if entry.maximise else min(values))
    dd = json.loads((root / "double_descent/summary.json").read_text())
    assert dd["selection"] == [] and dd["peak_ratio"] > 0
    # the dataset studies trained on the dataset's splits, the BDT and MLP on the right sizes
    overfit = json.loads((root / "ann_overfit/points/n_train~300.json").read_text())["result"]
    assert overfit["epochs_run"] == 6 and len(overfit["curves"]["train_loss"]) == 6


def test_pulse_regression_in_the_workflow(tiny: Path) -> None:
    folder = tiny / "results/evaluation/pulse/regression"
    summary = json.loads((folder / "summary.json").read_text())
    methods = [m for m, _ in TINY.trained("pulse")]
    assert summary["order"] == methods and len(methods) == 7
    assert 0.2 < summary["pileup_fraction"] < 0.4
    assert summary["bound"]["amplitude_rms"] == pytest.approx(0.91, abs=0.01)
    table = pd.read_csv(folder / "resolution.csv")
    assert set(table["axis"]) == {
        "all",
        "amplitude",
        "phase",
        "pileup",
        "amplitude_clean",
        "amplitude_pileup",
    }
    # with pile-up there is no Bayes-optimal reference, and the table says so
    assert summary["reference"] is None and table["rms_over_bayes"].isna().all()
    # the networks' intervals and the fits' Gaussian ones have a coverage
    covered = table[(table["axis"] == "all") & table["coverage_68"].notna()]["method"]
    assert set(covered) == set(methods) - {"peak_sample"}
    # on the pulses without pile-up the template fit and the iterated filter meet the bound
    for method in ("template_fit", "optimal_filter"):
        clean = summary["methods"][method]["amplitude"]["without_pileup"]
        assert 0.85 < clean["rms_ratio"] < 1.2, (method, clean)
    # the pile-up-aware fit beats the plain one on the pulses with pile-up
    robust = {
        m: summary["methods"][m]["amplitude"]["with_pileup"]["robust_ratio"]
        for m in ("template_fit", "template_fit_pileup")
    }
    assert robust["template_fit_pileup"] < robust["template_fit"]
    for name in (
        "resolution",
        "phase",
        "phase_bias",
        "pulls",
        "coverage",
        "pileup_threshold",
        "pulses",
    ):
        assert (folder / f"{name}.png").stat().st_size > 10_000, name
    assert (folder / "training.png").stat().st_size > 10_000
    # the pile-up fit's threshold was chosen on validation, among the configured p-values
    fit = json.loads(
        (tiny / "results/models/pulse/template_fit_pileup/samples/train.json").read_text()
    )
    scan = pd.DataFrame(fit["threshold_scan"])
    assert fit["p_value_chosen"] == scan.loc[scan["total"].idxmin(), "p_value"]
    assert fit["settings"]["p_value"] is None
    # the networks' intervals were recalibrated on validation (the tiny config's 1200
    # validation pulses: 2 cells of at least 500), their raw coverage per cell of the true
    # A recorded, and t0's cells of the true A brought within 5 points of nominal
    for network in ("pulse_mlp", "pulse_cnn"):
        record = json.loads(
            (tiny / f"results/models/pulse/{network}/samples/train.json").read_text()
        )
        calibration = record["calibration"]
        assert record["settings"]["calibration_cells"] == 10
        assert len(calibration["edges"]) == 1 and len(calibration["centres"]) == 2
        assert calibration["non_finite"] == 0 and calibration["t0_deviation"] < 0.05
        assert all(len(v) == 2 for v in calibration["raw_coverage"].values())
    # every regressor's MLflow run has its metrics against the bound
    client = MlflowClient(
        json.loads((tiny / "results/mlflow/experiments.json").read_text())["tracking_uri"]
    )
    for method in methods:
        record = json.loads(
            (tiny / f"results/models/pulse/{method}/samples/train.json").read_text()
        )
        metrics = client.get_run(record["mlflow_run_id"]).data.metrics
        assert {"amplitude_rms_ratio", "t0_rms_ratio", "amplitude_rms_ratio_low"} <= set(metrics)
        assert ("amplitude_pull_width" in metrics) == (method != "peak_sample")
