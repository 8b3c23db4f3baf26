"""Hyper-parameter searches (mlhep.studies.tuning): the config's spaces checked naming the
key, real Optuna studies in real journal files, the trainers' own step curves feeding the
pruner, a worker killed mid-trial and its study resumed, one worker reproducible, and the
tiny workflow's search with its MLflow runs."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from mlhep.config import ConfigError, validate_config
from mlhep.models.base import hyperparameters
from mlhep.studies import tuning

COLUMNS = ["a", "b", "noise"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "event_id": np.arange(n),
            "label": label,
            "weight": 1.0,
            "a": rng.normal(0, 1, n) + 1.0 * label,
            "b": rng.normal(0, 1, n) * np.where(label == 1, 0.6, 1.4),
            "noise": rng.normal(0, 1, n),
        }
    )


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    return {"train": _frame(2000, 1), "validation": _frame(1000, 2)}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    config: dict[str, Any] = {}
    validate_config(config)
    return config


def _search(config: dict[str, Any], model: str = "bdt", **changes: Any) -> tuning.Search:
    settings = hyperparameters(config["models"][model])
    if model == "bdt":
        settings.update(n_estimators=60, early_stopping_rounds=10)
    else:
        settings.update(epochs=5, min_epochs=2, patience=2, batch_size=512)
    fields: dict[str, Any] = {
        "dataset": "toy",
        "model": model,
        "features": "abc",
        "columns": tuple(COLUMNS),
        "settings": settings,
        "space": config["studies"]["tuning"]["spaces"][model],
        "seed": 3,
        "startup_trials": 2,
    }
    fields.update(changes)
    return tuning.Search(**fields)


def _new_study(search: tuning.Search, journal: Path) -> tuple[Any, optuna.Study]:
    storage = tuning.open_storage(search, journal)
    tuning.create_study(search, storage)
    return storage, tuning.load_study(search, storage)


# --- config ---------------------------------------------------------------------------------
BAD_SPACES = [
    ({"bdt": {"max_dept": {"low": 2, "high": 8}}}, "spaces.bdt.max_dept'", "not a setting"),
    ({"bdt": {"max_depth": {"low": 8, "high": 2}}}, "spaces.bdt.max_depth'", "must be below"),
    ({"bdt": {"eta": {"low": 0.1, "high": 1}}}, "spaces.bdt.eta'", "not a setting"),
    (
        {"bdt": {"learning_rate": {"low": 0.0, "high": 0.5, "log": True}}},
        "spaces.bdt.learning_rate'",
        "log scale needs low > 0",
    ),
    ({"ann": {"width": {"choices": []}}}, "spaces.ann.width.choices'", "non-empty list"),
    (
        {"ann": {"width": {"choices": [64], "low": 1}}},
        "spaces.ann.width'",
        "cannot be combined",
    ),
    ({"ann": {"width": {"lo": 1, "high": 4}}}, "spaces.ann.width'", "unknown key(s) ['lo']"),
    ({"ann": {"threads": {"low": 1, "high": 4}}}, "spaces.ann.threads'", "not a setting"),
    ({"ann": {"layers": {"low": "two", "high": 4}}}, "spaces.ann.layers'", "numeric low and high"),
]


@pytest.mark.parametrize(("spaces", "key", "reason"), BAD_SPACES, ids=[b[1] for b in BAD_SPACES])
def test_a_bad_space_is_refused_naming_its_key(spaces: dict, key: str, reason: str) -> None:
    config = {"studies": {"tuning": {"activate": True, "spaces": spaces}}}
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert f"config key 'studies.tuning.{key}" in str(info.value)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("tuning_section", "key", "reason"),
    [
        ({"searches": {"logistic": ["low"]}}, "searches.logistic'", "cannot be tuned"),
        ({"searches": {"bdt": ["middle"]}}, "searches.bdt'", "no feature set(s) ['middle']"),
        ({"dataset": "pulse"}, "dataset'", "not an active classification dataset"),
        ({"storage": "postgres"}, "storage'", "a database URL"),
        ({"searches": {"bdt": ["low"]}, "spaces": {"ann": {}}}, "spaces.ann'", "at least one"),
    ],
)
def test_a_bad_search_is_refused_naming_its_key(
    tuning_section: dict, key: str, reason: str
) -> None:
    config = {"studies": {"tuning": {"activate": True, **tuning_section}}}
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert f"config key 'studies.tuning.{key}" in str(info.value)
    assert reason in str(info.value)


def test_the_default_spaces_hold_the_default_settings(config: dict[str, Any]) -> None:
    for model in ("bdt", "ann"):
        search = _search(config, model)
        assert search.default_point() == {k: search.settings[k] for k in search.space}
    outside = _search(config, space={"max_depth": {"low": 8, "high": 12}})
    assert outside.default_point() is None  # the default (6) is not in it


# --- studies --------------------------------------------------------------------------------
def test_the_study_starts_from_the_default_and_draws_within_the_space(
    config: dict[str, Any], splits: dict, tmp_path: Path
) -> None:
    search = _search(config)
    _, study = _new_study(search, tmp_path / "study.journal")
    record = tuning.run_worker(search, study, 0, splits, 6)
    trials = study.get_trials()
    assert len(trials) == 6 and len(record["trials"]) == 6
    assert trials[0].params == search.default_point() and trials[0].user_attrs["default"]
    for trial in trials:
        for parameter in search.parameters:
            assert parameter.contains(trial.params[parameter.name]), (parameter, trial.params)
        assert isinstance(trial.params["max_depth"], int)
        assert trial.user_attrs["worker"] == 0 and trial.state.is_finished()
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 6


def test_one_worker_is_reproducible_and_the_seed_matters(
    config: dict[str, Any], splits: dict, tmp_path: Path
) -> None:
    def searched(seed: int, name: str) -> list[tuple]:
        search = _search(config, seed=seed)
        _, study = _new_study(search, tmp_path / f"{name}.journal")
        tuning.run_worker(search, study, 0, splits, 5)
        return [(t.state, t.value, t.params) for t in study.get_trials()]

    first, again, other = searched(3, "a"), searched(3, "b"), searched(4, "c")
    assert first == again  # to the last digit
    assert first[1:] != other[1:]  # the first trial is the default in both


@pytest.mark.parametrize("model", ["bdt", "ann"])
def test_the_pruner_stops_a_trial_on_the_trainers_own_step_curve(
    config: dict[str, Any], splits: dict, model: str
) -> None:
    search = _search(config, model)
    # a threshold no AUC reaches: the first report after the warm-up prunes
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0, n_warmup_steps=2)
    )
    study.enqueue_trial(search.default_point())
    with pytest.raises(optuna.TrialPruned) as info:
        tuning.run_trial(search, study.ask(), splits)
    steps, values = info.value.args[1]
    assert steps == [1, 2]  # reported each step, stopped at the first one past the warm-up
    assert all(0.5 < v < 1.0 for v in values)
    # without a pruner the same trial runs to its end and its value is the validation AUC
    free = optuna.create_study(direction="maximize")
    free.enqueue_trial(search.default_point())
    result = tuning.run_trial(search, free.ask(), splits)
    assert result.state == "COMPLETE" and len(result.steps) > 2
    assert 0.7 < result.value < 1.0


def test_a_killed_worker_leaves_its_trial_running_and_the_rerun_resumes(
    config: dict[str, Any], splits: dict, tmp_path: Path
) -> None:
    search = _search(config)
    journal = tmp_path / "study.journal"
    storage, study = _new_study(search, journal)
    tuning.run_worker(search, study, 0, splits, 2)
    before = {t.number: t.value for t in study.get_trials()}
    # a real process of worker 0 takes a trial and dies without a word (SIGKILL)
    script = f"""
import os, signal
from mlhep.studies import tuning
search = tuning.Search(**{dict(vars(search))!r})
study = tuning.load_study(search, tuning.open_storage(search, {str(journal)!r}))
trial = study.ask()
trial.set_user_attr("worker", 0)
os.kill(os.getpid(), signal.SIGKILL)
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    study = tuning.load_study(search, storage)
    assert tuning.counts(study) == {"COMPLETE": 2, "RUNNING": 1}
    # another worker leaves it alone (its owner may still be alive) ...
    assert tuning.fail_stale_trials(study, worker=1) == []
    # ... worker 0's next run fails it and continues the study to its trials
    record = tuning.run_worker(search, study, 0, splits, 4)
    assert record["stale_trials_failed"] == [2]
    trials = study.get_trials()
    assert trials[2].state == TrialState.FAIL
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 4
    assert {n: trials[n].value for n in before} == before  # the earlier trials are kept
    assert [t["number"] for t in record["trials"]] == [3, 4]


def test_the_gain_of_tuning_is_paired_on_the_same_test_events() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    test = pd.DataFrame({"event_id": rng.permutation(n), "label": rng.integers(0, 2, n)})
    test["weight"] = 1.0
    signal = test["label"].to_numpy()
    common = rng.normal(0, 1, n)

    def predictions(strength: float) -> pd.DataFrame:
        score = strength * signal + common + 0.3 * rng.normal(0, 1, n)
        frame = pd.DataFrame({"event_id": test["event_id"], "score": score, "split": "test"})
        return frame.sample(frac=1.0, random_state=1)  # another order: joined by event

    gain = tuning.comparison(test, predictions(1.2), predictions(1.0), 200, 0.95, 0)
    assert 0 < gain["gain_low"] < gain["gain"] < gain["gain_high"]
    # shared noise: the paired interval is far narrower than the AUCs' own spread
    assert gain["gain_high"] - gain["gain_low"] < 0.02


# --- the workflow ---------------------------------------------------------------------------
@pytest.mark.workflow
def test_the_tiny_search_runs_in_the_workflow_with_its_runs(tiny: Path) -> None:
    from mlflow import MlflowClient

    folder = tiny / "results/tuning/dimuon/bdt/low"
    summary = json.loads((folder / "summary.json").read_text())
    study = json.loads((folder / "study.json").read_text())
    workers = [json.loads(p.read_text()) for p in sorted((folder / "workers").glob("*.json"))]
    assert len(workers) == 2 and {w["worker"] for w in workers} == {0, 1}
    numbers = sorted(t["number"] for w in workers for t in w["trials"])
    assert numbers == list(range(summary["trials"])) and summary["trials"] == 6
    assert summary["complete"] + summary["pruned"] == 6
    assert summary["tuned"]["gap_to_bayes"] is not None and summary["gain_low"] <= summary["gain"]
    tuned = json.loads((folder / "tuned/train.json").read_text())
    trials = pd.read_csv(folder / "trials.csv")
    best = trials.loc[trials["number"] == summary["best_trial"]].iloc[0]
    for name, value in summary["best_params"].items():
        assert tuned["settings"][name] == value and best[f"param_{name}"] == pytest.approx(value)
    # MLflow: the study's run, each trial a child with Optuna's state, the tuned model too
    uri = json.loads((tiny / "results/mlflow/experiments.json").read_text())["tracking_uri"]
    client = MlflowClient(tracking_uri=uri)
    children = client.search_runs(
        [client.get_run(study["mlflow_run_id"]).info.experiment_id],
        f"tags.mlflow.parentRunId = '{study['mlflow_run_id']}'",
    )
    by_trial = {r.data.tags["optuna.trial"]: r for r in children if "optuna.trial" in r.data.tags}
    assert sorted(map(int, by_trial)) == list(range(6))
    for _, row in trials.iterrows():
        run = by_trial[str(row["number"])]
        assert run.data.tags["optuna.state"] == row["state"]
        assert run.info.status == ("FAILED" if row["state"] == "FAIL" else "FINISHED")
    assert [r.data.tags.get("tuned") for r in children].count("true") == 1
    table = (tiny / "results/tuning/tuning.md").read_text()
    assert "| dimuon | bdt | low | 6 |" in table and "| dimuon | ann | low | 6 |" in table
    for name in ("progress", "history", "importances", "parallel"):
        assert (folder / f"{name}.png").stat().st_size > 10_000, name


def test_more_trials_continue_the_study_and_a_new_space_starts_afresh(
    config: dict[str, Any],
) -> None:
    from mlhep.plan import Plan

    def params(section: dict[str, Any]) -> tuple[Any, Any]:
        changed = copy.deepcopy(config)
        changed["studies"]["tuning"].update(activate=True, **section)
        stage = Plan(changed).stage("tuning")
        return stage.search("dimuon", "bdt", "low"), stage.workers()

    base, _ = params({})
    assert params({"trials": 50})[0] == base  # the study job's params: it does not re-run
    assert params({"workers": 3}) == (base, ["0", "1", "2"])
    narrower = {"bdt": {"max_depth": {"low": 2, "high": 4}}}
    assert params({"spaces": narrower})[0] != base
    assert tuning.Search.from_params(base).name == "dimuon-bdt-low"


def test_the_log_loss_objective_is_minimised(config: dict[str, Any], splits: dict) -> None:
    search = _search(config, objective="log_loss")
    assert search.direction == "minimize"
    study = optuna.create_study(direction=search.direction)
    study.enqueue_trial(search.default_point())
    result = tuning.run_trial(search, study.ask(), splits)
    # a fitted BDT's validation log-loss is below a coin's (log 2)
    assert 0.0 < result.value < np.log(2)
    assert result.values and all(0.0 < v < 1.0 for v in result.values)  # validation_loss
