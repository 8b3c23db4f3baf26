"""The plotting API (hist's convention): drawing functions draw on the axes they are given
and return those artists, the figure builders lay them out without writing, and
:func:`mlhep.plotting.save_figure` writes a PNG atomically and closes the figure; importing
the library does not import matplotlib."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mlhep import plotting

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    """Every figure a test leaves open is closed."""
    yield
    plt.close("all")


def leaves(artist: Any) -> list[Any]:
    """The drawn artists inside ``artist`` (containers and lists opened, None dropped)."""
    if artist is None:
        return []
    if isinstance(artist, list | tuple):  # lists, NamedTuples and matplotlib's containers
        return [leaf for item in artist for leaf in leaves(item)]
    return [artist]


def on(artists: Any, ax: Any) -> bool:
    """Whether every drawn artist in ``artists`` is on ``ax`` (and there is one at least)."""
    drawn = leaves(artists)
    return bool(drawn) and all(a.axes is ax for a in drawn)


def classifier_scores(n: int = 2000, seed: int = 1) -> tuple[np.ndarray, ...]:
    """Labels, weights and two overlapping scores."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, rng.uniform(0.5, 1.5, n), y + rng.normal(0, 0.8, n), y + rng.normal(0, 0.6, n)


def test_draw_roc_and_scores_draw_on_the_given_axes() -> None:
    """The drawing functions draw on the axes given (also ones made without the house
    style, beside another panel) and return exactly what they drew there."""
    y, w, score, limit = classifier_scores()
    fig, (left, right) = plt.subplots(1, 2)
    roc = plotting.draw_roc(left, {"bdt": (y, score, w), "ann": (y, -score, w)}, (y, limit, w))
    assert len(roc.curves) == 2 and on(roc, left)
    assert roc.bayes is not None and "Bayes-optimal" in roc.bayes.get_label()
    assert [t.get_text()[:3] for t in roc.legend.get_texts()] == ["bdt", "ann", "Bay"]
    assert not right.lines and not right.collections  # nothing on the other panel
    train = {"signal": score[y == 1], "background": score[y == 0]}
    scores = plotting.draw_score_distributions(right, train, train, {"signal": 1, "background": 1})
    assert len(scores.test) == len(scores.train) == 2 and on(scores, right)
    assert right.get_legend() is scores.legend
    assert right.get_xlabel() == "Classifier score"
    assert len(left.lines) == 3  # the score plot drew nothing on the ROC's axes
    plt.close(fig)


def test_single_panel_drawings_return_their_artists() -> None:
    """Each one-panel drawing function returns artists on the axes it is given."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (60, 2))
    y = (x.sum(axis=1) > 0).astype(int)
    _, axes = plotting.new_figure(2, 3)
    ax = axes.flat
    assert on(plotting.draw_perceptron_errors(ax[0], [3, 1, 0], title="P"), ax[0])
    regions = plotting.draw_decision_regions(
        ax[1], LogisticRegression().fit(x, y), x, y, ("a", "b"), ("x1", "x2")
    )
    assert regions.regions.axes is ax[1] and on(regions.points, ax[1])
    assert ax[1].get_xlabel() == "x1"
    losses = plotting.draw_losses_vs_margin(ax[2])
    assert len(losses) == 4 and on(losses, ax[2]) and list(ax[2].lines) == losses
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)
    assert on(plotting.draw_decision_tree(ax[3], tree, ["x1", "x2"]), ax[3])
    table = pd.DataFrame({"feature": ["x1", "x2"], "auc_drop": [0.1, 0.02], "std": [0.01] * 2})
    assert on(plotting.draw_importance(ax[4], table), ax[4])
    text = plotting.draw_placeholder(ax[5], "nothing to draw")
    assert text.axes is ax[5] and text.get_text() == "nothing to draw"
    assert not ax[5].axison


def test_save_figure_writes_a_png_atomically_and_closes_the_figure(tmp_path: Path) -> None:
    """A drawn figure is written as a non-empty PNG of the house size at 100 dpi (the
    bounding box tight), with no temporary file left, and is closed."""
    fig, ax = plotting.new_figure()
    assert tuple(fig.get_size_inches()) == (8, 6.5)  # the house style's size
    assert tuple(plt.rcParams["figure.figsize"]) != (8, 6.5)  # ... not set globally
    plotting.draw_losses_vs_margin(ax)
    path = tmp_path / "sub" / "losses.png"
    plotting.save_figure(fig, path)
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 500 < width <= 800 and 400 < height <= 650  # 8 x 6.5 inches at 100 dpi, tight
    assert not plt.fignum_exists(fig.number)
    assert [p.name for p in path.parent.iterdir()] == ["losses.png"]


def test_save_figure_closes_the_figure_when_writing_fails(tmp_path: Path) -> None:
    """An unwritable format raises, leaves no file behind and still closes the figure."""
    fig, ax = plotting.new_figure()
    plotting.draw_placeholder(ax, "x")
    with pytest.raises(ValueError, match="not supported"):
        plotting.save_figure(fig, tmp_path / "figure.unknown")
    assert list(tmp_path.iterdir()) == []
    assert not plt.fignum_exists(fig.number)


def test_multi_panel_builders_lay_out_without_writing() -> None:
    """The builders return their figure (open, unwritten) at the sizes the workflow draws;
    their drawing functions fill the axes they are given."""
    rng = np.random.default_rng(3)
    probabilities = np.clip(rng.uniform(0, 1, 500) + rng.normal(0, 0.05, (5, 500)), 0, 1)
    labels = rng.integers(0, 2, 500)
    k = np.linspace(0, 3, 7)
    summary = {"coverage_k": k, "coverage": k / 4, "coverage_honest": k / 3.5}
    spread = plotting.ensemble_figure(probabilities, labels, None, summary)
    assert tuple(spread.get_size_inches()) == (15, 6) and len(spread.axes) == 3  # + colour bar
    p_star = probabilities.mean(axis=0)
    uncertainty = plotting.ensemble_figure(probabilities, labels, p_star, summary, title="T")
    assert tuple(uncertainty.get_size_inches()) == (15, 6.5)
    assert uncertainty.get_suptitle() == "T"
    _, axes = plotting.new_figure(1, 2)
    drawn = plotting.draw_ensemble_spread(axes, labels, probabilities)
    assert drawn.hexbin.axes is axes[0] and on(drawn.histograms, axes[1])
    assert drawn.colorbar.mappable is drawn.hexbin

    frame = pd.DataFrame(
        {
            "label": rng.integers(0, 2, 400),
            "weight": np.ones(400),
            "pt": rng.exponential(30, 400),
            "n_jets": rng.integers(0, 4, 400),
        }
        | {f"x{i}": rng.normal(0, 1, 400) for i in range(3)}
    )
    columns = ["pt", "n_jets", "x0", "x1", "x2"]
    features = plotting.feature_figure(frame, columns, {"pt": "pT"})
    assert tuple(features.get_size_inches()) == (22, 9.2)  # 2 rows of 4 panels
    assert [a.get_visible() for a in features.axes] == [True] * 5 + [False] * 3
    assert features.axes[0].get_xlabel() == "pT"
    assert features.axes[0].get_legend() is not None

    curves = {"train_loss": [1.0, 0.5], "validation_loss": [1.1, 0.6]}
    with_auc = curves | {"validation_auc": [0.6, 0.7]}
    records = {"a": {"curves": with_auc, "best_step": 2}, "b": {"curves": with_auc}}
    history = plotting.training_history_figure(records, "Epoch")
    assert tuple(history.get_size_inches()) == (14, 10)  # loss and AUC rows, two columns
    _, axes = plotting.new_figure(1, 1, squeeze=False)
    lines = plotting.draw_training_history(axes, {"b": {"curves": curves}}, "Epoch")
    assert len(lines) == 2 and on(lines, axes[0, 0])

    reliability = {"mean_p": [0.2, 0.8], "mean_p_star": [0.25, 0.75]}
    reliability |= {"label_mean_p": [0.2, 0.8], "label_fraction": [0.3, 0.7]}
    figure = plotting.reliability_figure({"ann": reliability}, title="R")
    assert len(figure.axes) == 2 and figure.get_suptitle() == "R"
    panels = {"GD": {"low": {"train": [1.0, 0.5], "validation": [1.1, 0.6]}}}
    assert len(plotting.training_curves_figure(panels).axes) == 1


# SHAP's colour map calls set_bad and set_over, which matplotlib will deprecate
@pytest.mark.filterwarnings(
    "ignore:The set_.* function will be deprecated:PendingDeprecationWarning"
)
def test_shap_summary_draws_on_the_given_axes() -> None:
    """SHAP's beeswarm (drawn on pyplot's current axes) lands on the axes given."""
    rng = np.random.default_rng(4)
    inputs = pd.DataFrame(rng.normal(0, 1, (100, 3)), columns=["a", "b", "c"])
    _, (other, ax) = plotting.new_figure(1, 2)
    points = plotting.draw_shap_summary(ax, rng.normal(0, 1, (100, 3)), inputs)
    assert len(points) >= 3 and on(points, ax)  # one scatter per feature at least
    assert not other.collections and ax.get_xlabel().startswith("SHAP value")


def test_library_figure_modules_build_figures() -> None:
    """The generative, regression and generalization figure builders return figures drawn
    with their ``draw_*`` functions, and write nothing themselves."""
    from mlhep.data.pulse.readout import Readout
    from mlhep.evaluation import regression_figures
    from mlhep.generative import figures as generative
    from mlhep.studies.generalization import STUDIES
    from mlhep.studies.generalization import figures as generalization

    rng = np.random.default_rng(5)
    _, (ax, ax_ratio) = plotting.new_figure(2, 1)
    drawn = generative.draw_ratio(
        ax,
        ax_ratio,
        rng.normal(0, 1, 500),
        {"gan": rng.normal(0, 1, 500)},
        np.linspace(-3, 3, 13),
        "x",
    )
    assert {a.axes for a in leaves(drawn) if hasattr(a, "axes")} == {ax, ax_ratio}
    rocs = {"gan": {"fpr": [0, 0.5, 1], "tpr": [0, 0.6, 1], "auc": 0.55}}
    assert len(generative.two_sample_figure(rocs, "T").axes) == 1
    history = {"step": [1, 2], "critic_loss": [1, 0.5], "generator_loss": [0.5, 0.4]}
    assert len(generative.history_figure(history | {"w1_x": [0.2, 0.1]}, "T").axes) == 2

    readout = Readout()
    truth = pd.DataFrame({"amplitude": rng.uniform(2, 50, 100), "t0": rng.uniform(0, 20, 100)})
    predictions = {
        "fit": pd.DataFrame(
            {
                "amplitude_hat": truth["amplitude"] + rng.normal(0, 1, 100),
                "amplitude_sigma": np.ones(100),
                "t0_hat": truth["t0"] + rng.normal(0, 1, 100),
                "t0_sigma": np.ones(100),
            }
        )
    }
    pulls = regression_figures.pulls_figure(truth, predictions, "T")
    assert len(pulls.axes) == 2 and pulls.get_suptitle() == "T"
    _, ax = plotting.new_figure()
    samples = rng.normal(0, 1, readout.n_samples)
    drawn = regression_figures.draw_pulse(ax, readout, samples, {"amplitude": 5, "t0": 10}, (5, 10))
    assert len(drawn) == 3 and on(drawn, ax)

    t = np.linspace(0, 100, 20)
    points = [
        {
            "point": {"degree": d},
            "result": {
                "train_mse": 1 / d,
                "validation_mse": 1 / d + 0.01 * d,
                "test_mse": 1 / d + 0.02 * d,
                "noise_variance": 0.05,
                "curve": {"t": t, "truth": np.sin(t / 20), "fit": np.sin(t / 20) + 0.1 / d},
            },
        }
        for d in (5, 1, 3)
    ]
    figure = generalization.figure("polynomial_degree", points, {"chosen": [{"degree": 3}]})
    assert tuple(figure.get_size_inches()) == STUDIES["polynomial_degree"].figure_size
    assert figure.get_suptitle() == STUDIES["polynomial_degree"].title
    assert len(figure.axes) == 4  # the errors and the three fits
    assert [a.get_title() for a in figure.axes[1:]] == [
        "degree 1 (under-fitted)",
        "degree 3 (chosen)",
        "degree 5 (over-fitted)",
    ]


def test_importing_the_library_does_not_import_matplotlib() -> None:
    """Only drawing imports matplotlib: the plan, the fits and the figure modules load
    without it (the workflow's DAG and non-drawing jobs stay light)."""
    modules = [
        "mlhep.plan",
        "mlhep.plotting",
        "mlhep.studies.zpeak",
        "mlhep.generative.figures",
        "mlhep.evaluation.regression_figures",
        "mlhep.evaluation.regression_report",
        "mlhep.studies.generalization.figures",
    ]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules)
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'mplhep')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
