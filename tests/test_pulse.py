"""The pulse dataset and its regressors: the generator against its settings, the ROOT file,
the Cramer-Rao bound against a numerical Fisher information and against Monte Carlo, the
optimal filter and the template fit (against SciPy's least squares), the pile-up-aware fit,
every regressor through the one training path with a real MLflow store, the evaluation
against the bound, and the config's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
from mlflow.tracking import MlflowClient
from scipy.optimize import least_squares

from mlhep import io
from mlhep.config import ConfigError, validate_config
from mlhep.data import get_kind
from mlhep.data.pulse import crrc_derivative, crrc_pulse
from mlhep.data.pulse.bound import cramer_rao
from mlhep.data.pulse.readout import SETTINGS_SCHEMA, Readout, generate_pulses
from mlhep.evaluation import regression
from mlhep.features.splits import make_splits
from mlhep.models import MODELS, get_trainer
from mlhep.models.base import REGRESSION_OUTPUTS, FitContext, hyperparameters
from mlhep.models.pulse import OptimalFilter, PeakSample, TemplateFit
from mlhep.models.training import PREDICTION_META, TrainingJob, train
from mlhep.report import regression_table
from mlhep.tracking import RunSpec, create_store

# MLflow 3.17 compares an input example's columns with a range when it logs a model, which
# pandas 3.1 deprecates (as in test_models)
pytestmark = pytest.mark.filterwarnings(
    "ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"
)

DEFAULTS = {k: v["default"] for k, v in SETTINGS_SCHEMA.items()}
READOUT = Readout.from_settings(DEFAULTS)
REGRESSORS = [m for m, e in MODELS.items() if e.kind == "regressor"]


def fixed_pulses(
    n: int, amplitude: float, t0: float, seed: int = 0, readout: Readout = READOUT
) -> np.ndarray:
    """``n`` noisy samples of one pulse (same A and t0)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, readout.n_samples)) @ readout.noise_factor.T
    return amplitude * readout.template(t0) + noise


@pytest.mark.parametrize("order", [1, 2, 4])
def test_slope_is_the_derivative_of_the_shape(order: int) -> None:
    t = np.linspace(-20, 150, 341) + 0.123  # off the kink at t0 = 0
    step = 1e-5
    numeric = (
        crrc_pulse(t + step, 3.0, 0.0, 25.0, order) - crrc_pulse(t - step, 3.0, 0.0, 25.0, order)
    ) / (2 * step)
    np.testing.assert_allclose(crrc_derivative(t, 3.0, 0.0, 25.0, order), numeric, atol=1e-7)


def test_generated_pulses_follow_the_settings() -> None:
    settings = {
        **DEFAULTS,
        "noise": 2.0,
        "noise_autocorrelation": [0.5, 0.2],
        "pileup_probability": 0.3,
    }
    pulses = generate_pulses(settings, 40_000, np.random.default_rng(1))
    readout = Readout.from_settings(settings)
    a, t0 = pulses["amplitude"], pulses["t0"]
    assert a.min() >= 2.0 and a.max() <= 200.0 and t0.min() >= 0.0 and t0.max() <= 25.0
    # log-uniform: log A is uniform, so its median is the geometric middle
    assert np.median(a) == pytest.approx(20.0, rel=0.05)
    clean = ~pulses["pileup"]
    residual = pulses["samples"][clean] - a[clean, None] * readout.template(t0[clean])
    np.testing.assert_allclose(np.cov(residual.T), readout.covariance, atol=0.12)
    assert readout.covariance[0, 1] == pytest.approx(2.0)  # 0.5 * sigma^2
    assert pulses["pileup"].mean() == pytest.approx(0.3, abs=0.01)
    offsets = (pulses["pileup_t0"][~clean] - t0[~clean]) / 25.0
    assert set(np.round(offsets).astype(int)) == {-2, -1, 1, 2}
    assert (
        np.isnan(pulses["pileup_t0"][clean]).all()
        and (pulses["pileup_amplitude"][clean] == 0).all()
    )


def test_pileup_datasets_share_the_in_time_pulses_and_noise() -> None:
    clean = generate_pulses(DEFAULTS, 5000, np.random.default_rng(3))
    piled = generate_pulses({**DEFAULTS, "pileup_probability": 0.3}, 5000, np.random.default_rng(3))
    np.testing.assert_array_equal(clean["amplitude"], piled["amplitude"])
    np.testing.assert_array_equal(clean["t0"], piled["t0"])
    same = ~piled["pileup"]
    np.testing.assert_array_equal(clean["samples"][same], piled["samples"][same])
    assert (np.abs(piled["samples"][~same] - clean["samples"][~same]).max(axis=1) > 0).all()


def test_pileup_datasets_share_their_splits(tmp_path: Path) -> None:
    kind = get_kind("pulse")
    fractions = {"train": 0.6, "validation": 0.2, "test": 0.2}
    tests = []
    for name, probability in (("clean", 0.0), ("piled", 0.3)):
        kind.produce(
            tmp_path / f"{name}.root",
            {**DEFAULTS, "n_pulses": 3000, "pileup_probability": probability},
            9,
        )
        parts, _ = make_splits(kind.build_features(tmp_path / f"{name}.root"), fractions, 9)
        tests.append(parts["test"])
    np.testing.assert_array_equal(tests[0]["event_id"], tests[1]["event_id"])
    np.testing.assert_array_equal(tests[0]["amplitude"], tests[1]["amplitude"])
    assert tests[1]["pileup"].any() and not tests[0]["pileup"].any()


def test_events_file_holds_the_samples_as_one_array_branch(tmp_path: Path) -> None:
    kind = get_kind("pulse")
    settings = {**DEFAULTS, "n_pulses": 1234, "n_samples": 10, "pileup_probability": 0.5}
    record = kind.produce(tmp_path / "events.root", settings, 5)
    assert record["n_pulses"] == 1234 and 0.4 < record["pileup_fraction"] < 0.6
    with uproot.open(tmp_path / "events.root") as file:
        tree = file["events"]
        assert tree.num_entries == 1234
        samples = tree["samples"].array(library="np")
        assert samples.shape == (1234, 10) and samples.dtype == np.float32
    table = kind.build_features(tmp_path / "events.root")
    columns = kind.columns_for(settings)
    assert list(columns) == [f"s{k}" for k in range(10)]
    assert {"event_id", "label", "weight", "amplitude", "t0", "pileup"} <= set(table.columns)
    assert (table["label"] == 0).all()  # the splits depend on the event ids alone
    np.testing.assert_array_equal(table[list(columns)].to_numpy(), samples.astype(np.float64))
    # the same seed gives the same file contents
    kind.produce(tmp_path / "again.root", settings, 5)
    again = kind.build_features(tmp_path / "again.root")
    pd.testing.assert_frame_equal(table, again)


def test_cramer_rao_is_the_inverse_of_a_numerical_fisher_information() -> None:
    readout = Readout.from_settings({**DEFAULTS, "noise_autocorrelation": [0.4]})
    for amplitude, t0 in ((5.0, 3.0), (50.0, 17.5)):
        step = 1e-4
        d_a = readout.template(t0)
        d_t = amplitude * (readout.template(t0 + step) - readout.template(t0 - step)) / (2 * step)
        jacobian = np.column_stack([d_a, d_t])
        covariance = np.linalg.inv(jacobian.T @ readout.precision @ jacobian)
        sigma_a, sigma_t = cramer_rao(amplitude, t0, readout)
        assert sigma_a == pytest.approx(np.sqrt(covariance[0, 0]), rel=1e-6)
        assert sigma_t == pytest.approx(np.sqrt(covariance[1, 1]), rel=1e-6)
    # sigma_t0 scales as 1/A, sigma_A does not depend on A
    assert cramer_rao(10.0, 5.0, readout)[1] == pytest.approx(2 * cramer_rao(20.0, 5.0, readout)[1])
    assert cramer_rao(10.0, 5.0, readout)[0] == pytest.approx(cramer_rao(20.0, 5.0, readout)[0])


@pytest.mark.parametrize("rho", [(), (0.6, 0.3)])
def test_optimal_filter_at_the_true_phase_reaches_the_bound(rho: tuple[float, ...]) -> None:
    settings = {**DEFAULTS, "noise_autocorrelation": list(rho)}
    readout = Readout.from_settings(settings)
    x = fixed_pulses(40_000, 30.0, 12.0, readout=readout)
    out = OptimalFilter(settings, (0.0, 25.0), iterations=0, reference_phase=12.0).predict(x)
    sigma_a, sigma_t = cramer_rao(30.0, 12.0, readout)
    assert out[:, 0].mean() == pytest.approx(30.0, abs=3 * sigma_a / 200)
    assert out[:, 0].std() == pytest.approx(sigma_a, rel=0.02)
    assert out[:, 1].std() == pytest.approx(sigma_t, rel=0.03)  # linearised in the shift
    np.testing.assert_allclose(out[:, 2], sigma_a, rtol=0.05)  # the bound at the estimate


def test_fixed_phase_filter_is_biased_away_from_its_phase_and_iterating_fixes_it() -> None:
    x = fixed_pulses(20_000, 100.0, 22.0)
    sigma_a, _ = cramer_rao(100.0, 22.0, READOUT)
    fixed = OptimalFilter(DEFAULTS, (0.0, 25.0), iterations=0).predict(x)  # built at 12.5 ns
    iterated = OptimalFilter(DEFAULTS, (0.0, 25.0), iterations=3).predict(x)
    assert fixed[:, 0].mean() - 100.0 < -5 * sigma_a  # a large negative bias
    assert abs(iterated[:, 0].mean() - 100.0) < 0.05 * sigma_a
    assert iterated[:, 0].std() == pytest.approx(sigma_a, rel=0.03)


def test_template_fit_agrees_with_scipy_least_squares() -> None:
    settings = {**DEFAULTS, "noise_autocorrelation": [0.3]}
    readout = Readout.from_settings(settings)
    rng = np.random.default_rng(2)
    amplitude, t0 = rng.uniform(5, 150, 25), rng.uniform(0, 25, 25)
    x = (
        amplitude[:, None] * readout.template(t0)
        + rng.standard_normal((25, 8)) @ readout.noise_factor.T
    )
    ours = TemplateFit(settings, (0.0, 25.0)).predict(x)
    whiten = np.linalg.cholesky(readout.precision).T  # W^T W = R^-1

    def residual(theta: np.ndarray, samples: np.ndarray) -> np.ndarray:
        return whiten @ (samples - theta[0] * readout.template(theta[1]))

    for i in range(25):
        fit = least_squares(
            residual, x0=[amplitude[i], t0[i]], args=(x[i],), xtol=1e-12, ftol=1e-12
        )
        assert ours[i, 0] == pytest.approx(fit.x[0], abs=1e-4 * amplitude[i])
        assert ours[i, 1] == pytest.approx(fit.x[1], abs=1e-3)


def test_template_fit_pileup_removes_most_pileup() -> None:
    settings = {**DEFAULTS, "pileup_probability": 1.0}  # crossings -2, -1, 1, 2
    pulses = generate_pulses(settings, 4000, np.random.default_rng(4))
    bound, _ = cramer_rao(pulses["amplitude"], pulses["t0"], READOUT)
    error = {}
    for name, crossings in (("plain", ()), ("aware", (-2, -1, 1, 2)), ("far", (-2, 2))):
        far = np.abs(pulses["pileup_t0"] - pulses["t0"]) > 40
        rows = far if name == "far" else np.ones(len(far), bool)
        fit = TemplateFit(settings, (0.0, 25.0), pileup_crossings=crossings)
        error[name] = (
            fit.predict(pulses["samples"][rows])[:, 0] - pulses["amplitude"][rows]
        ) / bound[rows]
    assert np.median(np.abs(error["plain"])) > 10 and np.mean(np.abs(error["plain"]) < 3) < 0.2
    assert np.median(np.abs(error["aware"])) < 2.5 and np.mean(np.abs(error["aware"]) < 3) > 0.55
    # two crossings away the pulses barely overlap and the fit is nearly efficient; one crossing
    # away two pulses 25 ns apart can mimic one pulse at another phase (the fit's ambiguity)
    assert regression.robust_width(error["far"]) < 1.5
    # without pile-up, fitting it where it is not significant changes (almost) nothing
    clean = generate_pulses(DEFAULTS, 4000, np.random.default_rng(4))
    plain, aware = (
        TemplateFit(DEFAULTS, (0.0, 25.0), pileup_crossings=c).predict(clean["samples"])
        for c in ((), (-2, -1, 1, 2))
    )
    assert np.mean(aware[:, 0] != plain[:, 0]) < 0.01


def test_peak_sample_is_the_largest_sample() -> None:
    x = np.array([[0.0, 1.0, 5.0, 2.0, 0.0, 0.0, 0.0, 0.0]])
    out = PeakSample(DEFAULTS).predict(x)
    assert out[0, 0] == 5.0 and out[0, 1] == 50.0 - 25.0 and np.isnan(out[0, 2:]).all()


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real pulse splits (with pile-up), written as parquet files."""
    root = tmp_path_factory.mktemp("pulse-splits")
    kind = get_kind("pulse")
    kind.produce(root / "events.root", {**DEFAULTS, "n_pulses": 8000, "pileup_probability": 0.2}, 5)
    parts, _ = make_splits(
        kind.build_features(root / "events.root"), {"train": 0.6, "validation": 0.2, "test": 0.2}, 5
    )
    paths = {}
    for name, part in parts.items():
        paths[name] = root / f"{name}.parquet"
        io.write_parquet(paths[name], part)
    return paths


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MLflow store with the pulse experiment."""
    root = tmp_path_factory.mktemp("pulse-store")
    record = root / "experiments.json"
    record.write_text(
        json.dumps(create_store({"uri": None, "experiment_prefix": "test-"}, ["pulse"], root))
    )
    return record


@pytest.mark.parametrize("name", REGRESSORS)
def test_every_regressor_goes_through_the_one_training_path(
    name: str, splits: dict[str, Path], store: Path, tmp_path: Path
) -> None:
    import mlflow

    config: dict = {}
    validate_config(config)
    settings = {**hyperparameters(config["models"][name]), "epochs": 4, "min_epochs": 4}
    if not MODELS[name].gpu:
        settings = hyperparameters(config["models"][name])
    physics = {**DEFAULTS, "pileup_probability": 0.2}
    out = tmp_path / name
    job = TrainingJob(
        model=name,
        dataset="pulse",
        features="samples",
        columns=[f"s{k}" for k in range(8)],
        settings=settings,
        context=FitContext(seed=3, physics=physics),
        model_dir=out / "model",
        predictions=out / "predictions.parquet",
        record=out / "train.json",
    )
    spec = RunSpec.for_job(store, "pulse", "train", "workflow/scripts/train.py", settings)
    record = train(job, splits, spec)
    assert record["kind"] == "regressor" and record["prior_log_odds"] is None
    assert (out / "model" / get_trainer(name).artifact).is_file()
    predictions = pd.read_parquet(out / "predictions.parquet")
    # the networks add their mixtures' central intervals
    intervals = [
        f"{v}_{e}{c}" for v in ("amplitude", "t0") for c in ("68", "95") for e in ("lo", "hi")
    ]
    extra = intervals if MODELS[name].gpu else []
    assert list(predictions.columns) == [*PREDICTION_META, *REGRESSION_OUTPUTS, *extra]
    assert predictions["split"].value_counts().to_dict() == {
        "train": 4800,
        "validation": 1600,
        "test": 1600,
    }
    test = predictions[predictions.split == "test"].set_index("event_id")
    truth = pd.read_parquet(splits["test"]).set_index("event_id").loc[test.index]
    clean = truth["pileup"].to_numpy() == 0
    error = (test["amplitude_hat"] - truth["amplitude"]).to_numpy()[clean]
    # On pulses without pile-up the fits and the iterated filter are at the bound (0.91
    # sigma); the peak sample is far from it; four epochs on 4800 pulses teach the networks
    # a little, the CNN more than the MLP. Each method's robust width of the amplitude error
    # (sigma units) was measured once here (1290 clean test pulses); the test allows three
    # standard errors more: 0.963 w / sqrt(n) for a Gaussian (from the two quantiles'
    # variances and covariance), 2.7% here.
    assert np.isfinite(test[["amplitude_hat", "t0_hat"]]).all().all()
    measured = {
        "peak_sample": 3.49,
        "optimal_filter_fixed": 1.94,
        "optimal_filter": 0.881,
        "template_fit": 0.879,
        "template_fit_pileup": 0.879,
        "pulse_mlp": 2.71,
        "pulse_cnn": 2.34,
    }
    ceiling = measured[name] * (1 + 3 * 0.963 / np.sqrt(len(error)))
    assert regression.robust_width(error) < ceiling, (name, regression.robust_width(error))
    if name != "peak_sample":
        assert (test[["amplitude_sigma", "t0_sigma"]] > 0).all().all()
    # the logged model loads back and predicts the same from raw samples
    tracking = json.loads(store.read_text())["tracking_uri"]
    mlflow.set_tracking_uri(tracking)
    loaded = mlflow.pyfunc.load_model(record["model_uri"])
    x = pd.read_parquet(splits["test"])[[f"s{k}" for k in range(8)]].head(20)
    raw = np.array(x.to_numpy(), dtype=np.float32) if MODELS[name].gpu else x
    reloaded = np.asarray(loaded.predict(raw), dtype=float)
    np.testing.assert_allclose(
        reloaded[:, :2],
        test.loc[
            pd.read_parquet(splits["test"])["event_id"].head(20), ["amplitude_hat", "t0_hat"]
        ].to_numpy(),
        rtol=1e-5,
    )
    run = MlflowClient(tracking).get_run(record["mlflow_run_id"])
    assert run.data.tags["kind"] == "regressor"


def test_network_uncertainties_are_calibrated_after_training(splits: dict[str, Path]) -> None:
    import torch

    from mlhep.models.pulse_nn import predict
    from mlhep.models.pulse_nn import train as train_net

    frames = {s: pd.read_parquet(splits[s]) for s in ("train", "validation", "test")}
    frames = {s: f[f["pileup"] == 0] for s, f in frames.items()}
    settings = {
        "width": 32,
        "layers": 2,
        "learning_rate": 3e-3,
        "weight_decay": 0.0,
        "batch_size": 256,
        "epochs": 25,
        "min_epochs": 25,
        "patience": 25,
    }
    columns = [f"s{k}" for k in range(8)]
    net, info = train_net(frames, columns, "mlp", settings, torch.device("cpu"), 1, 0)
    assert info["history"]["validation"][-1] < info["history"]["validation"][0]
    out = predict(net, frames["test"][columns].to_numpy())
    truth = frames["test"]
    pull_a = (out[:, 0] - truth["amplitude"]) / out[:, 2]
    pull_t = (out[:, 1] - truth["t0"]) / out[:, 3]
    assert 0.8 < regression.robust_width(pull_a) < 1.25
    assert 0.8 < regression.robust_width(pull_t) < 1.25
    again, _ = train_net(frames, columns, "mlp", settings, torch.device("cpu"), 1, 0)
    np.testing.assert_array_equal(predict(again, frames["test"][columns].to_numpy()), out)


def test_resolution_table_measures_against_the_bound() -> None:
    rng = np.random.default_rng(7)
    pulses = generate_pulses(DEFAULTS, 30_000, rng)
    test = pd.DataFrame(
        {
            "event_id": np.arange(30_000),
            "amplitude": pulses["amplitude"],
            "t0": pulses["t0"],
            "pileup": 0,
        }
    )
    truth = regression.truth_table(test, READOUT)
    a, t = truth["bound_amplitude"].to_numpy(), truth["bound_t0"].to_numpy()
    efficient = pd.DataFrame(
        {
            "amplitude_hat": truth["amplitude"] + a * rng.standard_normal(30_000),
            "t0_hat": truth["t0"] + t * rng.standard_normal(30_000),
            "amplitude_sigma": a,
            "t0_sigma": t,
        },
        index=truth.index,
    )
    shrunk = efficient.copy()  # a biased estimator: half the spread, three bounds off
    shrunk["amplitude_hat"] = (
        truth["amplitude"] + 0.5 * (efficient["amplitude_hat"] - truth["amplitude"]) + 3 * a
    )
    table = regression.resolution_table(
        truth, {"efficient": efficient, "shrunk": shrunk}, [2, 5, 20, 200], 5, (0.0, 25.0), 10.0
    )
    rows = table[(table.method == "efficient") & (table.axis != "phase")]
    assert (
        rows["rms_ratio"].between(0.96, 1.04).all() and rows["pull_width"].between(0.96, 1.04).all()
    )
    assert rows["bias_ratio"].abs().max() < 0.1
    low = table[
        (table.method == "shrunk") & (table.variable == "amplitude") & (table.axis == "amplitude")
    ].iloc[0]
    assert low["std_ratio"] == pytest.approx(0.5, rel=0.05)  # "below the bound" ...
    assert low["bias_ratio"] == pytest.approx(3.0, rel=0.02)  # ... only with a bias
    assert low["rms_ratio"] == pytest.approx(np.hypot(0.5, 3.0), rel=0.02)
    assert set(table.axis) == {"all", "amplitude", "phase"}  # no pile-up rows without pile-up
    summary = regression.summary(table, [2, 5, 20, 200])
    assert summary["ranges"] == {"low": [2, 5], "medium": [5, 20], "high": [20, 200]}
    shown = regression_table(summary)
    assert list(shown["method"]) == ["efficient", "shrunk"]
    assert shown.columns[1] == "A, A/sigma 2-5"
    assert regression.robust_width(rng.standard_normal(100_000) * 3) == pytest.approx(3, rel=0.02)


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"t0_range": [30.0, 0.0]}, r"datasets.p.t0_range': needs low <= high"),
        (
            {"amplitude_range": [0.0, 10.0]},
            r"datasets.p.amplitude_range': amplitudes are drawn log-uniformly",
        ),
        (
            {"noise_autocorrelation": [0.99, 0.99, -0.99]},
            r"datasets.p.noise_autocorrelation': .* not positive definite",
        ),
        (
            {"t0_range": [0.0, 200.0]},
            r"datasets.p.t0_range': a pulse arriving at 200.0 ns peaks after the last sample",
        ),
        (
            {"models": {"bdt": ["samples"]}},
            r"datasets.p.models.bdt': a classifier cannot train on a regression dataset",
        ),
        (
            {"feature_sets": {"late": ["s9"]}},
            r"datasets.p.feature_sets.late': unknown column\(s\) \['s9'\]",
        ),
        ({"n_samples": 2}, r"datasets.p.n_samples': 2 is less than the minimum of 3"),
        (
            {"pileup_crossings": [0, 1, 7]},
            r"datasets.p.pileup_crossings': \[0, 7\]: a pile-up crossing must differ",
        ),
    ],
)
def test_bad_pulse_settings_are_refused_naming_the_key(dataset: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config({"datasets": {"p": {"kind": "pulse", **dataset}}})


def test_regression_bins_must_increase() -> None:
    with pytest.raises(
        ConfigError, match=r"'evaluation.regression.amplitude_bins': the edges must increase"
    ):
        validate_config({"evaluation": {"regression": {"amplitude_bins": [5, 2, 10]}}})


def test_template_fit_survives_degenerate_grids() -> None:
    x = fixed_pulses(50, 50.0, 10.0)
    # a crossing whose pulse leaves the window over part of the grid: a vanishing column
    late = TemplateFit(DEFAULTS, (0.0, 25.0), pileup_crossings=(-1, 6)).predict(x)
    single = TemplateFit(DEFAULTS, (10.0, 10.0), margin=0.0).predict(x)  # a one-point grid
    assert np.isfinite(late).all() and np.isfinite(single).all() and (single[:, 1] == 10.0).all()
    assert np.abs(late[:, 0] - 50.0).max() < 5 * cramer_rao(50.0, 10.0, READOUT)[0]


def test_pulse_defaults_follow_the_number_of_samples() -> None:
    config: dict = {"datasets": {"p": {"kind": "pulse", "n_samples": 12}, "dimuon": {}}}
    validate_config(config)
    assert config["datasets"]["p"]["feature_sets"] == {"samples": [f"s{k}" for k in range(12)]}
    assert set(config["datasets"]["p"]["models"]) == set(REGRESSORS)
    assert config["datasets"]["p"]["limit"] == []
    assert not set(config["datasets"]["dimuon"]["models"]) & set(REGRESSORS)
