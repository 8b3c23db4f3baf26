"""Hyper-parameter searches with Optuna: a model's settings searched for the best
validation score, the search shared by parallel worker jobs through one study storage, every
trial an MLflow child run of the study's run, the best trial retrained once and evaluated on
the test split like any model.

- **Space**: per model, the config's ``studies.tuning.spaces.<model>`` (a range, on a log
  scale or not, integer where both bounds are; or a list of choices) over keys of its
  ``models.<model>`` section; the default settings are the study's first trial, so the
  search starts from the configured model and is judged against it on validation.
- **Objective**: the validation AUC (maximised) or log-loss (minimised) of the fitted model,
  trained on the train split at the analysis's seed; the test split is never read here.
- **Pruning**: the trainer's own per-step validation curve (boosting rounds, epochs) reaches
  the pruner through :attr:`mlhep.models.base.FitContext.on_step`.
- **Storage**: a journal file (Optuna's ``JournalFileBackend``, safe for workers on one
  shared filesystem) or a database URL (the tracking server's PostgreSQL).
- **Workers**: each worker job asks for trials until the study holds the configured number
  of finished or running ones; a worker that starts again (its job killed and re-run)
  first marks the trial its killed run left RUNNING as FAIL, then continues the study.

Reference: T. Akiba et al., Optuna: a next-generation hyperparameter optimization framework,
KDD 2019; S. Watanabe, Tree-structured Parzen estimator: understanding its algorithm
components, arXiv:2304.11127.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import optuna
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tunable:
    """A model the stage can search: the settings key bounding its steps (the pruner's
    resource) and how many times at most a trial reports to the pruner."""

    budget: str
    reports: int = 100  # at most this many reports per trial (a boosting round is cheap)


#: The models a search can tune (classifiers whose trainers report their steps).
TUNABLE: dict[str, Tunable] = {
    "bdt": Tunable("n_estimators"),
    "ann": Tunable("epochs"),
}


@dataclass(frozen=True)
class Objective:
    """What a trial's value is: its direction and the step metric the pruner watches."""

    direction: str
    monitor: str


OBJECTIVES: dict[str, Objective] = {
    "auc": Objective("maximize", "validation_auc"),
    "log_loss": Objective("minimize", "validation_loss"),
}
PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random")
#: Keys a parameter's spec may have.
SPEC_KEYS = {"low", "high", "log", "step", "choices"}


# --- the search space -----------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    """One searched setting: a range (``low``..``high``, log scale or not; integer where both
    bounds are integers) or a list of ``choices``."""

    name: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None

    @classmethod
    def parse(cls, name: str, spec: Mapping[str, Any]) -> Parameter:
        """From its config spec (checked by :func:`space_errors`)."""
        choices = spec.get("choices")
        return cls(
            name,
            spec.get("low"),
            spec.get("high"),
            bool(spec.get("log", False)),
            spec.get("step"),
            tuple(choices) if choices is not None else None,
        )

    @property
    def integer(self) -> bool:
        """Whether the range is of integers (both bounds integers)."""
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high))

    def suggest(self, trial: optuna.Trial) -> Any:
        """The trial's value of this setting (an enqueued trial's fixed value)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(self.name, self.low, self.high, step=step, log=self.log)
        return trial.suggest_float(
            self.name, float(self.low), float(self.high), step=self.step, log=self.log
        )

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a point of the space (a default outside it is not tried)."""
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not float(value).is_integer():
            return False
        return self.low <= value <= self.high  # type: ignore[operator]


def parameter_errors(key: str, spec: Any, settings: Mapping[str, Any]) -> list[str]:
    """Problems with one parameter's spec (``key``: its config key), each naming the key."""
    name = key.rsplit(".", 1)[-1]
    if name not in settings or name in ("activate", "threads"):
        known = sorted(k for k in settings if k not in ("activate", "threads"))
        return [f"config key '{key}': not a setting of the model (its settings: {known})"]
    if not isinstance(spec, Mapping):
        return [f"config key '{key}': a range {{low, high, log}} or {{choices: [...]}}"]
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        return [f"config key '{key}': unknown key(s) {sorted(unknown)}; known: {sorted(SPEC_KEYS)}"]
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"}:
            return [f"config key '{key}': choices cannot be combined with a range"]
        if not isinstance(choices, list) or not choices:
            return [f"config key '{key}.choices': a non-empty list"]
        if len({repr(c) for c in choices}) != len(choices):
            return [f"config key '{key}.choices': repeated choices"]
        return []
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        return [f"config key '{key}': a range needs numeric low and high"]
    if not low < high:
        return [f"config key '{key}': low ({low}) must be below high ({high})"]
    if spec.get("log") and low <= 0:
        return [f"config key '{key}': a log scale needs low > 0 (it is {low})"]
    step = spec.get("step")
    if step is not None:
        if spec.get("log"):
            return [f"config key '{key}': step cannot be combined with a log scale"]
        if not isinstance(step, int | float) or step <= 0:
            return [f"config key '{key}.step': a positive number"]
    return []


def space_errors(key: str, space: Any, settings: Mapping[str, Any]) -> list[str]:
    """Problems with a model's search space (``key``: ``studies.tuning.spaces.<model>``)."""
    if not isinstance(space, Mapping) or not space:
        return [f"config key '{key}': at least one setting to search"]
    return [
        message
        for name, spec in space.items()
        for message in parameter_errors(f"{key}.{name}", spec, settings)
    ]


# --- one search -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Search:
    """One study: a model on a feature set of a dataset, its space and how it is searched
    (the rules' ``params.search``, as :meth:`params` gives it)."""

    dataset: str
    model: str
    features: str
    columns: tuple[str, ...]
    settings: Mapping[str, Any]  # the model's configured settings (the first trial)
    space: Mapping[str, Mapping[str, Any]]
    objective: str = "auc"
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str = "journal"
    seed: int = 0
    startup_trials: int = 5

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Search:
        """From a rule's ``params.search`` mapping."""
        values = dict(params)
        values["columns"] = tuple(values["columns"])
        return cls(**values)

    @property
    def name(self) -> str:
        """The study's name in its storage."""
        return f"{self.dataset}-{self.model}-{self.features}"

    @property
    def parameters(self) -> list[Parameter]:
        """The searched settings, in config order."""
        return [Parameter.parse(name, spec) for name, spec in self.space.items()]

    @property
    def direction(self) -> str:
        """``maximize`` or ``minimize``."""
        return OBJECTIVES[self.objective].direction

    def default_point(self) -> dict[str, Any] | None:
        """The configured settings as a point of the space, or ``None`` if one lies outside
        it (then the search does not start from the default)."""
        point = {p.name: self.settings[p.name] for p in self.parameters}
        inside = all(p.contains(point[p.name]) for p in self.parameters)
        return point if inside else None

    def trial_settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The model's settings with a trial's values."""
        return {**self.settings, **params}

    def report_interval(self, settings: Mapping[str, Any]) -> int:
        """Steps between two reports to the pruner for a trial's settings."""
        tunable = TUNABLE[self.model]
        return max(1, int(settings[tunable.budget]) // tunable.reports)


def open_storage(search: Search, journal: str | os.PathLike[str]) -> Any:
    """The study's storage: the journal file ``journal`` (``storage: journal``), or the
    database at the URL ``storage`` names."""
    import optuna

    if search.storage == "journal":
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(os.fspath(journal)))
    return optuna.storages.RDBStorage(search.storage)


def make_sampler(search: Search, worker: int, n_existing: int) -> Any:
    """The seeded sampler of one worker: its seed differs per worker (else every worker's
    random start-up trials would be the same points) and per number of trials already in
    the study (a re-run worker does not repeat its first points); one worker alone on a
    fresh study is reproducible to the last digit on the CPU."""
    import optuna

    seed = int(np.random.SeedSequence([search.seed, worker, n_existing]).generate_state(1)[0])
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.startup_trials)


def make_pruner(search: Search) -> Any:
    """The pruner: median (a trial below the median of earlier trials at the same step is
    stopped, after the start-up trials and the first tenth of the steps: a slow learning
    rate starts low), Hyperband, or none."""
    import optuna

    budget = int(search.settings[TUNABLE[search.model].budget])
    if search.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=search.startup_trials, n_warmup_steps=budget // 10
        )
    if search.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=budget)
    return optuna.pruners.NopPruner()


def create_study(search: Search, storage: Any) -> optuna.Study:
    """A fresh study (an earlier one of the same name is deleted: the study job runs again
    only when what the search means has changed), its first trial the configured
    settings."""
    import optuna

    with contextlib.suppress(KeyError):  # none yet
        optuna.delete_study(study_name=search.name, storage=storage)
    study = optuna.create_study(storage=storage, study_name=search.name, direction=search.direction)
    default = search.default_point()
    if default is not None:
        study.enqueue_trial(default, user_attrs={"default": True})
    return study


def load_study(search: Search, storage: Any, worker: int = 0) -> optuna.Study:
    """The search's study, with this worker's sampler and the search's pruner."""
    import optuna

    summaries = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage)}
    if search.name not in summaries:
        raise LookupError(f"no study {search.name!r} in the storage: its study job creates it")
    return optuna.load_study(
        study_name=search.name,
        storage=storage,
        sampler=make_sampler(search, worker, summaries[search.name]),
        pruner=make_pruner(search),
    )


def fail_stale_trials(study: optuna.Study, worker: int) -> list[int]:
    """Mark as FAIL the trials an earlier run of this worker left RUNNING (its job was
    killed: only one job of a worker runs at a time); return their numbers."""
    from optuna.trial import TrialState

    stale = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.user_attrs.get("worker") == worker
    ]
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL)
        log.warning("trial %d of an earlier, killed run of worker %d: FAIL", trial.number, worker)
    return [t.number for t in stale]


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials by state (``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ``WAITING``)."""
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out


# --- trials ---------------------------------------------------------------------------------
@dataclass
class TrialResult:
    """What a worker learned of one trial."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    seconds: float
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    mlflow_run_id: str | None = None


def validation_value(
    objective: str, labels: np.ndarray, outputs: pd.DataFrame, weights: np.ndarray
) -> float:
    """A fitted model's objective on the validation split: the AUC of its score (with the
    events' weights, as the test AUC), or the log-loss of its probabilities."""
    from sklearn.metrics import log_loss, roc_auc_score

    if objective == "auc":
        return float(roc_auc_score(labels, outputs["score"], sample_weight=weights))
    return float(log_loss(labels, outputs["proba"].to_numpy(dtype=float), labels=[0, 1]))


def run_trial(
    search: Search,
    trial: optuna.Trial,
    splits: Mapping[str, pd.DataFrame],
    device: str = "cpu",
    threads: int = 1,
) -> TrialResult:
    """Fit the model at the trial's settings on the train split (validation for early
    stopping and the pruner) and return its validation objective; ``optuna.TrialPruned``
    (carrying the curve so far in ``args[1]``) where the pruner stops it."""
    import optuna

    from mlhep.models import get_trainer
    from mlhep.models.base import FitContext

    params = {p.name: p.suggest(trial) for p in search.parameters}
    settings = search.trial_settings(params)
    every = search.report_interval(settings)
    monitor = OBJECTIVES[search.objective].monitor
    steps: list[int] = []
    values: list[float] = []

    def on_step(step: int, metrics: Mapping[str, float]) -> None:
        if step % every:
            return
        value = float(metrics[monitor])
        steps.append(step)
        values.append(value)
        if math.isfinite(value):
            trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}", (steps, values))

    trainer = get_trainer(search.model)
    context = FitContext(search.seed, device, threads, on_step=on_step)
    start = time.perf_counter()
    fitted = trainer.fit(splits, search.columns, settings, context)
    validation = splits["validation"]
    value = validation_value(
        search.objective,
        validation["label"].to_numpy(),
        trainer.predict(fitted, validation, search.columns),
        validation["weight"].to_numpy(),
    )
    return TrialResult(
        trial.number, "COMPLETE", value, params, time.perf_counter() - start, steps, values
    )


def worker_identity(worker: int) -> dict[str, Any]:
    """Who runs a worker: its index, host, process and scheduler job (SLURM's id)."""
    return {
        "worker": worker,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


#: Logs one finished trial to MLflow (the worker's tracking); returns the run id.
TrialLogger = Callable[[Search, TrialResult, Mapping[str, Any]], str | None]


def run_worker(
    search: Search,
    study: optuna.Study,
    worker: int,
    splits: Mapping[str, pd.DataFrame],
    trials: int,
    *,
    device: str = "cpu",
    threads: int = 1,
    log_trial: TrialLogger | None = None,
) -> dict[str, Any]:
    """Ask the study for trials until it holds ``trials`` finished or running ones
    (failed ones do not count; as many failures as trials end the worker with an error);
    return the worker's record (who it was, its trials)."""
    import optuna
    from optuna.trial import TrialState

    identity = worker_identity(worker)
    stale = fail_stale_trials(study, worker)
    results: list[TrialResult] = []
    start = time.perf_counter()
    while True:
        n = counts(study)
        taken = n.get("COMPLETE", 0) + n.get("PRUNED", 0) + n.get("RUNNING", 0)
        if taken >= trials:
            break
        if n.get("FAIL", 0) - len(stale) >= trials:
            raise RuntimeError(f"{n['FAIL']} trials of study {search.name!r} failed; see the log")
        trial = study.ask()
        for key, value in identity.items():
            trial.set_user_attr(key, value)
        began = time.perf_counter()
        try:
            result = run_trial(search, trial, splits, device, threads)
        except Exception as error:
            pruned = isinstance(error, optuna.TrialPruned)
            curve = error.args[1] if pruned and len(error.args) > 1 else ([], [])
            result = TrialResult(
                trial.number,
                "PRUNED" if pruned else "FAIL",
                curve[1][-1] if pruned and curve[1] else None,
                dict(trial.params),
                time.perf_counter() - began,
                list(curve[0]),
                list(curve[1]),
            )
            if not pruned:
                log.exception("trial %d failed", trial.number)
            study.tell(trial, state=TrialState.PRUNED if pruned else TrialState.FAIL)
        else:
            study.tell(trial, result.value)
        if log_trial is not None:
            result.mlflow_run_id = log_trial(search, result, identity)
        results.append(result)
        log.info(
            "trial %d: %s %s in %.1f s %s",
            result.number,
            result.state,
            f"{result.value:.5f}" if result.value is not None else "",
            result.seconds,
            result.params,
        )
    return {
        **identity,
        "study": search.name,
        "stale_trials_failed": stale,
        "seconds": time.perf_counter() - start,
        "trials": [
            {k: v for k, v in vars(r).items() if k not in ("steps", "values")} for r in results
        ],
    }


# --- the result -----------------------------------------------------------------------------
def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The complete trial with the best validation value (``LookupError`` if none)."""
    try:
        return study.best_trial
    except ValueError as error:
        raise LookupError(f"study {study.study_name!r} has no complete trial") from error


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """Every trial: number, state, value, worker, start and end (seconds since the first
    trial began), duration, last reported step, whether it was the default, and its params."""
    import pandas as pd

    trials = study.get_trials(deepcopy=False)
    started = [t.datetime_start for t in trials if t.datetime_start is not None]
    origin = min(started) if started else None
    rows = []
    for t in trials:
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "worker": t.user_attrs.get("worker"),
            "default": bool(t.user_attrs.get("default", False)),
            "last_step": t.last_step,
            "start_s": (t.datetime_start - origin).total_seconds()
            if t.datetime_start and origin
            else math.nan,
            "end_s": (t.datetime_complete - origin).total_seconds()
            if t.datetime_complete and origin
            else math.nan,
        }
        row["seconds"] = row["end_s"] - row["start_s"]
        row.update({f"param_{k}": v for k, v in t.params.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def trials_to_reach(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """The best complete value so far against the trials finished (in order of finishing)
    and against the wall time since the search began."""
    import pandas as pd

    done = frame[frame["state"].isin(["COMPLETE", "PRUNED", "FAIL"])].sort_values("end_s")
    better = np.fmax if direction == "maximize" else np.fmin
    values = np.where(done["state"] == "COMPLETE", done["value"], np.nan).astype(float)
    best = better.accumulate(values) if len(values) else values
    return pd.DataFrame(
        {
            "trials": np.arange(1, len(done) + 1),
            "wall_s": done["end_s"].to_numpy(),
            "best": best,
            "number": done["number"].to_numpy(),
        }
    )


def comparison(
    test: pd.DataFrame,
    tuned: pd.DataFrame,
    default: pd.DataFrame,
    n_resamples: int,
    level: float,
    seed: int,
) -> dict[str, float]:
    """AUC(tuned) - AUC(default) on the same test events with its paired bootstrap interval
    (``gain``, ``gain_low``, ``gain_high``): the two models' scores joined by event."""
    from mlhep.evaluation.metrics import paired_gap

    rows = test[["event_id", "label", "weight"]]
    scores = {}
    for name, predictions in (("tuned", tuned), ("default", default)):
        part = predictions[predictions["split"] == "test"].set_index("event_id")["score"]
        scores[name] = part.reindex(rows["event_id"]).to_numpy()
        if np.isnan(scores[name]).any():
            raise LookupError(f"the {name} model's predictions miss test events")
    gap = paired_gap(
        rows["label"].to_numpy(),
        scores["tuned"],
        scores["default"],
        rows["weight"].to_numpy(),
        n_resamples,
        level,
        seed,
    )
    return {"gain": gap["gap"], "gain_low": gap["gap_low"], "gain_high": gap["gap_high"]}


def summarise(
    search: Search,
    study: optuna.Study,
    workers: Sequence[Mapping[str, Any]],
    tuned: Mapping[str, Any],
    default: Mapping[str, Any],
    gain: Mapping[str, float],
) -> dict[str, Any]:
    """The search in one record: its trials by state and worker, its wall time, the best
    trial against the default on validation, and the tuned model against the default and
    the limit on test (``tuned``/``default``: their evaluation metrics)."""
    frame = trials_frame(study)
    best = best_trial(study)
    default_rows = frame[frame["default"] & (frame["state"] == "COMPLETE")]
    keys = ("auc", "auc_low", "auc_high", "gap_to_bayes", "gap_low", "gap_high", "bayes_auc")
    n = counts(study)
    return {
        "study": search.name,
        "dataset": search.dataset,
        "model": search.model,
        "features": search.features,
        "objective": search.objective,
        "direction": search.direction,
        "trials": len(frame),
        "complete": n.get("COMPLETE", 0),
        "pruned": n.get("PRUNED", 0),
        "failed": n.get("FAIL", 0),
        "pruned_fraction": n.get("PRUNED", 0) / max(1, len(frame)),
        "workers": len(workers),
        # over the study (a re-run worker's record holds only its last run's trials)
        "trials_per_worker": {
            str(int(k)): int(v) for k, v in frame["worker"].dropna().value_counts().items()
        },
        "slurm_jobs": sorted({str(w["slurm_job_id"]) for w in workers if w.get("slurm_job_id")}),
        "wall_seconds": float(np.nanmax(frame["end_s"])) if len(frame) else 0.0,
        "best_trial": best.number,
        "best_params": dict(best.params),
        "validation_best": best.value,
        "validation_default": float(default_rows["value"].iloc[0]) if len(default_rows) else None,
        "tuned": {k: tuned.get(k) for k in keys},
        "default": {k: default.get(k) for k in keys},
        **gain,
    }


def table(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Every search in one row: trials, pruned fraction, wall time, validation best against
    default, and on test the AUCs and gaps to the limit with the paired gain."""
    import pandas as pd

    rows = []
    for s in summaries:
        row = {k: s[k] for k in ("dataset", "model", "features", "trials", "pruned_fraction")}
        row.update(
            wall_minutes=s["wall_seconds"] / 60,
            validation_default=s["validation_default"],
            validation_best=s["validation_best"],
        )
        for which in ("default", "tuned"):
            row.update({f"{which}_{k}": v for k, v in s[which].items()})
        row.update({k: s[k] for k in ("gain", "gain_low", "gain_high")})
        rows.append(row)
    return pd.DataFrame(rows)


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The table for a reader (every cell a string): test AUC and gap to the limit of the
    default and the tuned model, and the paired gain of tuning, with their intervals."""
    import pandas as pd

    def number(value: Any) -> str:
        return f"{value:.4f}" if value is not None and math.isfinite(value) else "-"

    def interval(row: Any, prefix: str, key: str, low: str, high: str) -> str:
        value = row[f"{prefix}{key}"]
        if value is None or not math.isfinite(value):
            return "-"
        return f"{value:.4f} [{row[f'{prefix}{low}']:.4f}, {row[f'{prefix}{high}']:.4f}]"

    rows = []
    for _, r in frame.iterrows():
        rows.append(
            {
                "dataset": r["dataset"],
                "model": r["model"],
                "features": r["features"],
                "trials": str(r["trials"]),
                "pruned": f"{r['pruned_fraction']:.0%}",
                "wall [min]": f"{r['wall_minutes']:.1f}",
                "validation default": number(r["validation_default"]),
                "validation best": number(r["validation_best"]),
                "test AUC default": interval(r, "default_", "auc", "auc_low", "auc_high"),
                "test AUC tuned": interval(r, "tuned_", "auc", "auc_low", "auc_high"),
                "tuned - default [paired CI]": interval(r, "", "gain", "gain_low", "gain_high"),
                "gap to limit default": interval(
                    r, "default_", "gap_to_bayes", "gap_low", "gap_high"
                ),
                "gap to limit tuned": interval(r, "tuned_", "gap_to_bayes", "gap_low", "gap_high"),
            }
        )
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    """:func:`display_table` as Markdown."""
    shown = display_table(frame)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines) + "\n"


# --- tracking -------------------------------------------------------------------------------
def open_parent_run(spec: Any, search: Search) -> str:
    """The study's MLflow run (its space and settings as params), ended at once: trials
    and the best model attach to it as children, the summary adds its figures later."""
    from mlhep.tracking import mlflow_module, start_run

    mlflow = mlflow_module()
    tags = {
        "optuna.study": search.name,
        "model": search.model,
        "features": search.features,
        "study_parent": "true",
    }
    with start_run(spec, f"{search.name} search", tags=tags) as run:
        mlflow.log_params(
            {
                "model": search.model,
                "features": search.features,
                "objective": search.objective,
                "sampler": search.sampler,
                "pruner": search.pruner,
                **{f"space.{k}": str(dict(v)) for k, v in search.space.items()},
            }
        )
        return str(run.info.run_id)


def trial_logger(spec: Any, parent: str) -> TrialLogger:
    """Logs each finished trial as a child run of ``parent``: its settings as params, its
    value, its reported per-step values and its state (Optuna's state as a tag; a failed
    trial's run ends FAILED)."""
    from mlhep.tracking import log_curves, mlflow_module, start_run

    def log_trial(search: Search, result: TrialResult, identity: Mapping[str, Any]) -> str:
        mlflow = mlflow_module()
        tags = {
            "mlflow.parentRunId": parent,
            "optuna.study": search.name,
            "optuna.trial": str(result.number),
            "optuna.state": result.state,
            "optuna.worker": str(identity["worker"]),
            "model": search.model,
            "features": search.features,
        }
        name = f"{search.name} trial {result.number}"
        with start_run(spec, name, tags=tags) as run:
            mlflow.log_params({k: str(v) for k, v in result.params.items()})
            metrics = {"trial_seconds": result.seconds}
            if result.value is not None:
                metrics[f"validation_{search.objective}"] = float(result.value)
            mlflow.log_metrics(metrics)
            if result.steps:
                monitor = OBJECTIVES[search.objective].monitor
                log_curves({f"step_{monitor}": result.values}, result.steps)
            if result.state == "FAIL":
                mlflow.end_run("FAILED")
            return str(run.info.run_id)

    return log_trial
