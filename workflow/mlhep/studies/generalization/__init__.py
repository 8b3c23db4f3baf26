"""Generalization studies: the lecture's "is machine learning just optimisation? No:
generalization", measured. Each study sweeps a grid (config ``studies.generalization.
<study>``, its axes listed here); every grid point is one job, so a cluster runs them in
parallel and adding a point re-runs only that point and the study's summary. The complexity
of each study is chosen on the validation split and the test split is read for the chosen
point (the test curves are drawn for teaching, never used to choose).

The registry maps each study to its runner (``module:function``, imported only by the job
that runs it), its grid axes, the data it needs, the model whose ``models.<name>`` settings
it starts from, and the validation metric that chooses its point.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where a frame is built: the workflow's parse needs none
    import pandas as pd


class StudyData(StrEnum):
    """What a study's points train on."""

    PULSE = "pulse"  # readout pulses generated in the job (studies.generalization.pulse)
    SYNTHETIC = "synthetic"  # features generated in the job
    DATASET = "dataset"  # a classification dataset's splits (studies.generalization.dataset)


@dataclass(frozen=True)
class Study:
    """A sweep: how one point is run and how the best point is chosen."""

    runner: str  # "module:function" under mlhep.studies.generalization
    axes: tuple[str, ...]  # the config keys holding the grid's values
    data: StudyData
    title: str
    model: str | None = None  # models.<name> the points start from (an axis "model": each
    # point names its own)
    select: str | None = None  # the validation metric that chooses (None: nothing to choose)
    maximise: bool = False
    group: str | None = None  # an axis chosen within (one choice per value)
    gpu: bool = False  # trains on CUDA where the device setting allows
    chunked: bool = False  # a point costs far less than a job's start: points share jobs
    figure: str = ""  # "module:function" drawing its figure (mlhep.studies.generalization)
    figure_size: tuple[float, float] = (16, 6.5)  # inches
    findings: str | None = None  # "module:function": (table, points) -> summary entries,
    # with "notes": sentences for the report

    def model_of(self, point: Mapping[str, Any]) -> str | None:
        """The model whose ``models.<name>`` settings a point starts from."""
        return str(point["model"]) if "model" in self.axes else self.model

    def run(self) -> Callable[..., dict[str, Any]]:
        """The runner function (imports its module)."""
        return _function(self.runner)

    def draw(self) -> Callable[..., list[Any]]:
        """The function that fills its figure (imports matplotlib where it draws)."""
        return _function(self.figure)


def _function(reference: str) -> Callable[..., Any]:
    """The function a ``module:function`` reference names, under this package."""
    module, function = reference.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


#: Every study by its config name (``studies.generalization.<name>``).
STUDIES: dict[str, Study] = {
    "polynomial_degree": Study(
        "polynomial:degree_point",
        ("degree",),
        StudyData.PULSE,
        "Polynomial degree",
        select="validation_mse",
        figure="figures:draw_polynomial_degree",
        figure_size=(18, 11),
        findings="__init__:kfold_findings",
        chunked=True,
    ),
    "polynomial_ridge": Study(
        "polynomial:ridge_point",
        ("penalty",),
        StudyData.PULSE,
        "Ridge penalty",
        select="validation_mse",
        figure="figures:draw_polynomial_ridge",
        chunked=True,
    ),
    "polynomial_lasso": Study(
        "polynomial:lasso_point",
        ("penalty",),
        StudyData.PULSE,
        "Lasso penalty",
        select="validation_mse",
        figure="figures:draw_polynomial_lasso",
        chunked=True,
    ),
    "double_descent": Study(
        "double_descent:isotropic_point",
        ("ratio",),
        StudyData.SYNTHETIC,
        "Double descent (isotropic features)",
        figure="figures:draw_double_descent",
        figure_size=(10, 7),
        findings="__init__:double_descent_findings",
        chunked=True,
    ),
    "random_features": Study(
        "dimuon:random_features_point",
        ("ratio",),
        StudyData.DATASET,
        "Double descent (random ReLU features)",
        select="validation_mse",
        figure="figures:draw_random_features",
        chunked=True,
    ),
    "bdt_capacity": Study(
        "dimuon:bdt_capacity",
        ("max_depth", "n_estimators"),
        StudyData.DATASET,
        "BDT capacity",
        model="bdt",
        select="validation_auc",
        maximise=True,
        gpu=True,
        figure="figures:draw_bdt_capacity",
    ),
    "ann_capacity": Study(
        "dimuon:ann_point",
        ("width", "layers"),
        StudyData.DATASET,
        "MLP capacity",
        model="ann",
        select="validation_auc",
        maximise=True,
        gpu=True,
        figure="figures:draw_ann_capacity",
    ),
    "ann_weight_decay": Study(
        "dimuon:ann_point",
        ("weight_decay",),
        StudyData.DATASET,
        "MLP weight decay",
        model="ann",
        select="validation_loss",
        gpu=True,
        figure="figures:draw_ann_weight_decay",
    ),
    "ann_dropout": Study(
        "dimuon:ann_point",
        ("dropout",),
        StudyData.DATASET,
        "MLP dropout",
        model="ann",
        select="validation_loss",
        gpu=True,
        figure="figures:draw_ann_dropout",
    ),
    "ann_overfit": Study(
        "dimuon:ann_point",
        ("n_train",),
        StudyData.DATASET,
        "Over-sized MLP without early stopping",
        model="ann",
        gpu=True,
        figure="figures:draw_ann_overfit",
        figure_size=(10, 7),
        findings="__init__:overfit_findings",
    ),
    "learning_curve": Study(
        "dimuon:learning_curve_point",
        ("model", "n_train"),
        StudyData.DATASET,
        "Learning curves",
        select="validation_auc",
        maximise=True,
        group="model",
        gpu=True,
        figure="figures:draw_learning_curve",
        figure_size=(17, 6.5),
    ),
}


def format_value(value: Any) -> str:
    """A grid value as it appears in a point's name (``repr`` of floats: exact and short)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def point_name(point: Mapping[str, Any]) -> str:
    """A point's name, in the style of Snakemake's ``Paramspace``: ``axis~value_axis~value``."""
    return "_".join(f"{axis}~{format_value(value)}" for axis, value in point.items())


def grid_points(study: str, section: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The points of a study's grid (the product of its axes' values), by name, in grid
    order; ``ValueError`` naming the key if two values of an axis give one name."""
    axes = STUDIES[study].axes
    for axis in axes:
        names = [format_value(v) for v in section[axis]]
        if len(set(names)) != len(names):
            raise ValueError(
                f"config key 'studies.generalization.{study}.{axis}': repeated values {names}"
            )
    points = [
        dict(zip(axes, values, strict=True))
        for values in itertools.product(*(section[a] for a in axes))
    ]
    return {point_name(p): p for p in points}


def point_frame(points: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per point: its grid values and scalar results (curves and lists left out)."""
    rows = []
    for result in points:
        row = dict(result["point"])
        row.update(
            {
                k: v
                for k, v in result["result"].items()
                if isinstance(v, int | float | str | None) and k not in row
            }
        )
        row["point"] = result["name"]
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows)


def choose(study: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The chosen row(s): the best validation metric (one per value of the study's group
    axis); empty for a study with nothing to choose."""
    entry = STUDIES[study]
    if entry.select is None or frame.empty:
        return frame.iloc[:0]
    groups = [g for _, g in frame.groupby(entry.group, sort=False)] if entry.group else [frame]
    rows = []
    for group in groups:
        values = group[entry.select]
        rows.append(group.loc[values.idxmax() if entry.maximise else values.idxmin()])
    import pandas as pd

    return pd.DataFrame(rows)


def run_point(
    study: str,
    settings: Mapping[str, Any],
    point: Mapping[str, Any],
    splits: Mapping[str, pd.DataFrame] | None,
    context: Any,
) -> dict[str, Any]:
    """Run one point of ``study`` (its runner sees the study's name as ``settings["study"]``).
    A dataset study monitors and chooses on a seeded subsample of ``n_validation``
    validation events (every epoch scores it)."""
    settings = {**settings, "study": study}
    if STUDIES[study].data is StudyData.DATASET:
        if splits is None:
            raise ValueError(f"study {study!r} needs the dataset's splits")
        from mlhep.studies.generalization.dimuon import subsample

        validation = splits["validation"]
        n = min(settings["n_validation"], len(validation))
        splits = {**splits, "validation": subsample(validation, n, context.seed + 1, "")}
    return STUDIES[study].run()(settings, point, splits, context)


#: The score each selection metric is reported with: (train, test) columns, and whether a
#: larger value is better.
SCORES = {
    "validation_mse": ("train_mse", "test_mse", False),
    "validation_auc": ("train_auc", "test_auc", True),
    "validation_loss": ("train_loss", "test_loss", False),
}


def selection_rows(study: str, chosen: pd.DataFrame) -> list[dict[str, Any]]:
    """The table rows of a study's chosen point(s): the grid values, the validation metric
    that chose them, and the train and test scores with the generalization gap (test worse
    than train: positive)."""
    entry = STUDIES[study]
    if entry.select is None:
        return []
    train, test, larger_better = SCORES[entry.select]
    rows = []
    for _, row in chosen.iterrows():
        gap = row[train] - row[test] if larger_better else row[test] - row[train]
        rows.append(
            {
                "study": study,
                "chosen": ", ".join(f"{a} = {format_value(row[a])}" for a in entry.axes),
                "metric": entry.select.removeprefix("validation_"),
                "validation": float(row[entry.select]),
                "train": float(row[train]),
                "test": float(row[test]),
                "gap": float(gap),
            }
        )
    return rows


def summarise(
    study: str,
    points: Sequence[Mapping[str, Any]],
    limit: Mapping[str, Any] | None,
    features: str | None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """A study's summary (its choice on validation, with the test score; the limit's AUC
    where known; study-specific findings) and its table of points."""
    entry = STUDIES[study]
    table = point_frame(points)
    chosen = choose(study, table)
    summary: dict[str, Any] = {
        "study": study,
        "title": entry.title,
        "axes": list(entry.axes),
        "points": len(points),
        "chosen": [{a: row[a] for a in entry.axes} for _, row in chosen.iterrows()],
        "selection": selection_rows(study, chosen),
        "limit_auc": None,
        "limit_loss": None,
    }
    if limit is not None and features in limit["feature_sets"]:
        summary["limit_auc"] = limit["feature_sets"][features]["auc"]
        summary["limit_loss"] = limit["feature_sets"][features]["test_loss"]
    if entry.findings is not None:
        summary.update(_function(entry.findings)(table, points))
    return summary, table


def kfold_findings(table: pd.DataFrame, points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The degree k-fold cross-validation would choose (where it ran)."""
    if not table["kfold_mse"].notna().any():
        return {}
    degree = int(table.loc[table["kfold_mse"].idxmin(), "degree"])
    note = f"k-fold cross-validation on train + validation picks degree {degree}."
    return {"kfold_degree": degree, "notes": [note]}


def overfit_findings(table: pd.DataFrame, points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Where each over-sized network diverges (:func:`divergence`)."""
    found = [divergence(p) for p in points]
    return {"divergence": found, "notes": [divergence_note(d) for d in found]}


def divergence_note(d: Mapping[str, Any]) -> str:
    """A sentence on where one over-sized network diverges."""
    return (
        f"With {d['n_train']} training events the validation loss is least at epoch "
        f"{d['min_validation_epoch']} of {d['epochs']} ({d['min_validation_loss']:.3f}, train "
        f"{d['train_loss_there']:.3f}); at the last epoch train {d['final_train_loss']:.3g} "
        f"against validation {d['final_validation_loss']:.3g}."
    )


def divergence(point: Mapping[str, Any]) -> dict[str, Any]:
    """Where an over-sized network trained without early stopping starts to overfit: the
    epoch of least validation loss (where early stopping would have stopped), and the
    losses there and at the last epoch."""
    curves = point["result"]["curves"]
    validation = curves["validation_loss"]
    best = min(range(len(validation)), key=validation.__getitem__)
    return {
        **point["point"],
        "min_validation_epoch": best + 1,
        "min_validation_loss": validation[best],
        "train_loss_there": curves["train_loss"][best],
        "epochs": len(validation),
        "final_validation_loss": validation[-1],
        "final_train_loss": curves["train_loss"][-1],
    }


def double_descent_findings(
    table: pd.DataFrame, points: Sequence[Mapping[str, Any]] = (), away: float = 0.25
) -> dict[str, Any]:
    """Where the empirical min-norm risk peaks, and its largest relative deviation from the
    theory (the finite-n formula below the threshold) at |p/n - 1| > ``away``."""
    peak = table.loc[table["minimum_norm_risk"].idxmax()]
    far = table[(table["ratio"] - 1.0).abs() > away]
    deviation = (far["minimum_norm_risk"] / far["theory_finite_n"] - 1.0).abs()
    found = {
        "peak_ratio": float(peak["ratio"]),
        "peak_risk": float(peak["minimum_norm_risk"]),
        "max_relative_deviation_away_from_peak": float(deviation.max()) if len(far) else None,
        "deviation_ratio": float(far.loc[deviation.idxmax(), "ratio"]) if len(far) else None,
    }
    notes = [
        f"The minimum-norm risk peaks at p/n = {found['peak_ratio']:g} "
        f"(risk {found['peak_risk']:.3g})."
    ]
    if found["max_relative_deviation_away_from_peak"] is not None:
        notes.append(
            f"Away from the peak (|p/n - 1| > {away:g}) it is within "
            f"{100 * found['max_relative_deviation_away_from_peak']:.0f}% of the theory "
            f"(largest at p/n = {found['deviation_ratio']:g})."
        )
    return {**found, "notes": notes}


def selection_markdown(table: pd.DataFrame) -> str:
    """The selection table as Markdown (scores to 5 significant digits)."""
    lines = [
        "| study | chosen on validation | metric | validation | train | test | gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| {r.study} | {r.chosen} | {r.metric} | {r.validation:.5g} | "
            f"{r.train:.5g} | {r.test:.5g} | {r.gap:+.3g} |"
        )
    return "\n".join(lines) + "\n"
