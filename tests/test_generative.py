"""The generative stage's library: the reversible physics-aware representation, the GAN and
WGAN-GP training (deterministic, saved and loaded, sampled into the toy's support), the
distances (FPD and KPD against closed forms), the fidelity metrics against the toy's own
noise floor, the ``generated`` dataset kind, the generator as an MLflow pyfunc, and the
autoencoder through the one training path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import assert_same_events_up_to_rotation

from mlhep.config import ConfigError, validate_config
from mlhep.data import get_kind
from mlhep.data.dimuon.features import bayes_scores, engineer
from mlhep.data.dimuon.physics import LOW_LEVEL_FEATURES
from mlhep.data.dimuon.representation import (
    REPRESENTATIONS,
    Standardiser,
    accept_pair,
    decode,
    decode_pair,
    encode,
    encode_pair,
    in_mass_range,
    pair_mass,
    pair_mass_torch,
)
from mlhep.generative import distances, fidelity, gan
from mlhep.models import MODELS, get_trainer
from mlhep.models.base import hyperparameters

pytestmark = pytest.mark.filterwarnings(
    "ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"
)


@pytest.fixture(scope="module")
def toy() -> pd.DataFrame:
    """4000 toy events (half signal) with the engineered columns."""
    return fidelity.toy_sample(np.r_[np.ones(2000, int), np.zeros(2000, int)], seed=11)


def tiny_settings(objective: str, critic: str) -> dict:
    """Models settings from the schema's defaults, made small and short."""
    config: dict = {}
    validate_config(config)
    settings = hyperparameters(config["models"][objective])
    settings.update(
        objective=objective,
        critic=critic,
        steps=12,
        eval_every=6,
        width=16,
        layers=2,
        batch_size=64,
    )
    return settings


def test_representation_is_reversible_up_to_the_global_azimuth(toy: pd.DataFrame) -> None:
    raw = encode(toy, np.random.default_rng(1))
    assert raw.shape == (len(toy), 10) and np.isfinite(raw).all()
    back = decode(raw, np.random.default_rng(2))
    assert_same_events_up_to_rotation(back, toy, 1e-9)
    assert np.all(np.abs(back["mu_minus_phi"]) <= np.pi)
    np.testing.assert_allclose(pair_mass(raw), toy["m_mumu"], rtol=1e-9)
    # anything the network writes decodes inside the acceptance
    wild = np.random.default_rng(3).normal(0, 5, (1000, 10))
    out = decode(wild, np.random.default_rng(4))
    assert (out["mu_minus_pt"] > 20).all() and (np.abs(out["mu_plus_eta"]) <= 2.4).all()
    assert (out["n_jets"] >= 0).all() and (out["met"] > 0).all()


def test_standardiser_and_the_differentiable_mass(toy: pd.DataFrame) -> None:
    raw = encode(toy, np.random.default_rng(1))
    st = Standardiser.fit(raw)
    x = st.forward(raw)
    assert np.allclose(x[:, [0, 1, 2, 3, 6, 7]].mean(0), 0, atol=1e-9)
    np.testing.assert_array_equal(x[:, [4, 5, 8, 9]], raw[:, [4, 5, 8, 9]])  # circles untouched
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    mass = pair_mass_torch(st.inverse_torch(t))
    np.testing.assert_allclose(mass.detach().numpy(), toy["m_mumu"], rtol=1e-9)
    mass.sum().backward()
    assert torch.isfinite(t.grad).all() and t.grad[:, 0].abs().sum() > 0
    assert in_mass_range(np.array([99.9, 100.0, 125.0, 150.0, 150.1])).tolist() == [
        False,
        True,
        True,
        True,
        False,
    ]


def test_pair_representation_derives_the_muons_and_the_reflection_keeps_the_physics(
    toy: pd.DataFrame,
) -> None:
    raw = encode_pair(toy, np.random.default_rng(1))
    assert raw.shape == (len(toy), 10) and np.isfinite(raw).all()
    np.testing.assert_allclose(raw[:, 0], toy["m_mumu"], rtol=1e-9)  # the mass is a coordinate
    assert accept_pair(raw).all()  # every real event is one the toy could have made
    back = decode_pair(raw, np.random.default_rng(2))
    assert_same_events_up_to_rotation(back, toy, 1e-7)
    # mirrored at random: the same pT, eta and mass, the relative azimuths flipped in half
    mirrored = engineer(pd.DataFrame(decode_pair(raw, np.random.default_rng(2), reflect=True)))
    np.testing.assert_allclose(mirrored["m_mumu"], toy["m_mumu"], rtol=1e-7)
    np.testing.assert_allclose(mirrored["mu_plus_eta"], toy["mu_plus_eta"], atol=1e-7)
    d_true = np.sin(toy["mu_plus_phi"] - toy["mu_minus_phi"]).to_numpy()
    d_back = np.sin(mirrored["mu_plus_phi"] - mirrored["mu_minus_phi"]).to_numpy()
    flipped = np.isclose(d_back, -d_true, atol=1e-7) & ~np.isclose(d_true, 0.0, atol=1e-3)
    assert 0.45 < flipped.mean() < 0.55
    # a wild output: only what passes the acceptance and the mass range is accepted
    wild = raw + np.random.default_rng(3).normal(0, [20, 1, 1, 1, 0, 0, 0, 0, 0, 0], raw.shape)
    ok = accept_pair(wild)
    assert 0.05 < ok.mean() < 0.95
    out = decode_pair(wild[ok], np.random.default_rng(4))
    assert (out["mu_minus_pt"] > 20).all() and (np.abs(out["mu_plus_eta"]) < 2.4).all()
    assert in_mass_range(REPRESENTATIONS["pair"].mass(wild[ok])).all()
    # the muon representation's rejection agrees with the pair mass of its coordinates
    muon_raw = encode(toy, np.random.default_rng(1))
    assert REPRESENTATIONS["muons"].accept(muon_raw).all()


def test_the_mass_mmd_tells_a_smeared_peak_and_has_a_gradient(toy: pd.DataFrame) -> None:
    mass = torch.tensor(toy.loc[toy["label"] == 1, "m_mumu"].to_numpy(), dtype=torch.float64)
    real, same = mass[:500], mass[500:1000]
    smeared = same + 4.0 * torch.randn(500, generator=torch.Generator().manual_seed(1))
    smeared.requires_grad_(True)
    alike = gan.mass_mmd(same, real, gan.MMD_WIDTHS)
    unlike = gan.mass_mmd(smeared, real, gan.MMD_WIDTHS)
    assert 0 <= float(alike) < 0.5 * float(unlike.detach())
    unlike.backward()
    assert torch.isfinite(smeared.grad).all() and smeared.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("objective", "critic", "physics_built"),
    [("gan", "blind", False), ("wgan_gp", "physics", False), ("gan", "physics", True)],
)
def test_training_is_deterministic_and_the_saved_generator_samples_the_same(
    objective: str, critic: str, physics_built: bool, toy: pd.DataFrame, tmp_path: Path
) -> None:
    settings = tiny_settings(objective, critic)
    if physics_built:  # the pair representation, mirrored, the MMD, EMA, the mass-aware pick
        settings.update(
            representation="pair",
            reflect=True,
            mmd_weight=10.0,
            ema_decay=0.5,
            select_on_mass=True,
        )
    seen: list[dict] = []

    def monitor(generator: gan.EventGenerator) -> dict[str, float]:
        frame, _ = generator.sample(toy["label"].to_numpy()[:200], 1, max_rounds=2, strict=False)
        seen.append({"n": len(frame)})
        later = -float(len(seen))  # later is better
        return {"w1_low": float(len(seen)), "w1_mass_signal_std": later, "selection": later}

    first, info = gan.train(toy, settings, seed=5, monitor=monitor)
    second, _ = get_trainer(objective).train(toy, settings, seed=5)
    for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert info["history"]["step"] == [6, 12] and info["best_step"] == 12 and len(seen) == 2
    assert info["history"]["epoch"][-1] == pytest.approx(12 * settings["n_critic"] * 64 / len(toy))
    assert (info["mass_scaling"] is not None) == (critic == "physics")
    first.save(tmp_path / "g.pt")
    loaded = gan.load(tmp_path / "g.pt")
    labels = np.r_[np.ones(300, int), np.zeros(200, int)]
    a, tried = first.sample(labels, seed=9, max_rounds=1000)
    b, _ = loaded.sample(labels, seed=9, max_rounds=1000)
    pd.testing.assert_frame_equal(a, b)
    assert list(a["label"]) == list(labels) and tried["signal"] >= 300
    events = engineer(a)
    assert in_mass_range(events["m_mumu"].to_numpy()).all()
    assert (events[["mu_minus_pt", "mu_plus_pt"]] > 20).all().all()
    assert np.isfinite(bayes_scores(events, LOW_LEVEL_FEATURES)).all()


def test_generated_azimuths_do_not_encode_the_label(toy: pd.DataFrame) -> None:
    # labels drawn from the very seed the sampler gets: its streams must be its own
    from sklearn.metrics import roc_auc_score

    # (the pair representation: an untrained generator of muons puts almost no event in the
    # mass range, and its sampler gives up)
    settings = {**tiny_settings("gan", "blind"), "steps": 100, "representation": "pair"}
    generator, _ = gan.train(toy, settings, seed=2)
    labels = (np.random.default_rng(9).random(4000) < 0.5).astype(int)
    frame, _ = generator.sample(labels, seed=9)
    for column in ("mu_minus_phi", "mu_plus_phi", "met_phi"):
        assert abs(roc_auc_score(labels, frame[column]) - 0.5) < 0.05, column


def test_train_on_real_reaches_the_limit_it_is_compared_with(toy: pd.DataFrame) -> None:
    config: dict = {}
    validate_config(config)
    frame = fidelity.with_weights(toy)
    columns = ["m_mumu", "pt_mumu", "y_mumu", "cos_theta_star"]
    out = fidelity.train_on_synthetic(
        frame.iloc[:2500],
        frame.iloc[2500:3000],
        frame.iloc[3000:],
        {"logistic": hyperparameters(config["models"]["logistic"])},
        columns,
        seed=1,
    )
    result = out["logistic"]
    assert 0.6 < result["auc"] <= result["limit_auc"] + 0.02
    assert result["gap"] == pytest.approx(result["limit_auc"] - result["auc"])
    assert result["gap_low"] <= result["gap"] <= result["gap_high"]


def test_settings_are_checked_and_the_registry_knows_the_generators() -> None:
    assert MODELS["gan"].kind == MODELS["wgan_gp"].kind == "generator"
    assert isinstance(get_trainer("wgan_gp"), gan.GeneratorTrainer)
    with pytest.raises(ValueError, match="critic 'sighted'"):
        gan.check_settings({"objective": "gan", "critic": "sighted"})
    with pytest.raises(ValueError, match="objective 'vae'"):
        gan.check_settings({"objective": "vae", "critic": "blind"})


def test_fpd_and_kpd_against_closed_forms() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    same = rng.normal(size=(20000, 3))
    shifted = rng.normal(size=(20000, 3)) + np.array([0.3, 0.0, 0.0])
    # Frechet distance of two Gaussians: |mu1 - mu2|^2 for equal covariances
    assert distances.frechet_distance(np.zeros(2), np.eye(2), np.array([1.0, 1.0]), np.eye(2)) == (
        pytest.approx(2.0)
    )
    assert distances.frechet_distance(np.zeros(1), np.eye(1) * 4, np.zeros(1), np.eye(1)) == (
        pytest.approx(1.0)
    )  # (2 - 1)^2
    kw = {"min_samples": 2000, "max_samples": 20000, "num_batches": 3, "num_points": 5}
    floor = distances.fpd(a, same, rng, **kw)
    assert abs(floor.value) < 5 * floor.error + 2e-3
    far = distances.fpd(a, shifted, rng, **kw)
    assert far.value == pytest.approx(0.09, rel=0.2) and far.value > 5 * far.error
    k_same = distances.kpd(a, same, rng, num_batches=5, batch_size=2000)
    k_far = distances.kpd(a, shifted, rng, num_batches=5, batch_size=2000)
    assert abs(k_same.value) < 3 * k_same.error + 1e-3 and k_far.value > 10 * max(
        k_same.error, 1e-4
    )


def test_fwhm_and_the_two_sample_test() -> None:
    rng = np.random.default_rng(1)
    mass = rng.normal(125.0, 3.0, 200000)
    assert fidelity.fwhm(mass) == pytest.approx(2.3548 * 3.0, rel=0.05)
    real = pd.DataFrame({"x": rng.normal(size=4000), "label": rng.integers(0, 2, 4000)})
    alike = pd.DataFrame({"x": rng.normal(size=4000), "label": rng.integers(0, 2, 4000)})
    unlike = pd.DataFrame({"x": rng.normal(0.8, 1.0, 4000), "label": rng.integers(0, 2, 4000)})
    # Scored on about 2000 + 2000 events: an AUC's standard error is 0.009 at 0.5 and 0.008
    # at 0.71 (Hanley and McNeil). Alike samples: 0.5 within 4.4 of those (measured 0.515).
    assert abs(fidelity.two_sample_test(real, alike, ["x"], 0)["auc"] - 0.5) < 0.04
    # Unlike ones: the optimum is Phi(0.8 / sqrt 2) = 0.714; the BDT, trained on 4000 events
    # beside a label that carries nothing, measured 0.686: at most three standard errors
    # below that, and never three above the optimum
    unlike_auc = fidelity.two_sample_test(real, unlike, ["x"], 0)["auc"]
    assert 0.686 - 3 * 0.008 < unlike_auc < 0.714 + 3 * 0.008, unlike_auc


def test_two_real_samples_sit_on_the_floor_and_a_smeared_peak_does_not(toy: pd.DataFrame) -> None:
    settings = {
        "fpd": {"min_samples": 500, "max_samples": 2000, "num_batches": 2, "num_points": 3},
        "kpd": {"num_batches": 3, "batch_size": 500},
    }
    other = fidelity.toy_sample(toy["label"].to_numpy(), seed=12)
    floor = fidelity.compare(toy, other, 0, settings)
    values = fidelity.scalars(floor)
    assert {
        "w1_m_mumu",
        "ks_n_jets",
        "fpd",
        "kpd",
        "two_sample_auc_low",
        "two_sample_auc_all",
        "bayes_w1_signal",
        "fwhm_mass_signal",
    } <= values.keys()
    assert values["two_sample_auc_all"] < 0.56 and values["ks_m_mumu"] < 0.05
    # the same events with the signal's mass smeared: the muons scaled per event
    smeared = other.copy()
    factor = np.where(
        smeared["label"] == 1, np.random.default_rng(3).normal(1, 0.06, len(other)), 1.0
    )
    for c in ("mu_minus_pt", "mu_plus_pt"):
        smeared[c] = 20 + (smeared[c] - 20) * factor
    smeared = engineer(smeared[[*LOW_LEVEL_FEATURES, "label"]])
    smeared = smeared[in_mass_range(smeared["m_mumu"].to_numpy())].reset_index(drop=True)
    smeared_result = fidelity.compare(toy, smeared, 0, settings)
    worse = fidelity.scalars(smeared_result)
    assert worse["fwhm_mass_signal"] > values["fwhm_mass_signal"] + 2
    assert worse["w1_mass_signal"] > 3 * values["w1_mass_signal"]
    assert worse["bayes_w1_signal"] > 2 * values["bayes_w1_signal"]
    # over seeds: the floor and the smeared sample as two "seeds", whose FWHMs differ by
    # more than 2 GeV: mean halfway, sample standard deviation |a - b| / sqrt(2)
    summary = fidelity.floor_summary([floor, smeared_result])
    a, b = values["fwhm_mass_signal"], worse["fwhm_mass_signal"]
    assert summary["fwhm_mass_signal"]["mean"] == pytest.approx((a + b) / 2)
    assert summary["fwhm_mass_signal"]["std"] == pytest.approx(abs(a - b) / np.sqrt(2))


def test_generated_kind_writes_the_toys_branches(
    toy: pd.DataFrame, tmp_path: Path, monkeypatch
) -> None:
    kind = get_kind("generated")
    settings = {
        "generator": "g",
        "n_signal": 300,
        "n_background": 200,
        "expected_signal": 10.0,
        "expected_background": 1000.0,
    }
    assert kind.inputs(settings) == ["results/generative/g/generator.pt"]
    assert kind.check({}) and not kind.check(settings) and kind.limit is None
    generator, _ = gan.train(toy, {**tiny_settings("gan", "blind"), "steps": 300}, seed=2)
    monkeypatch.chdir(tmp_path)
    Path("results/generative/g").mkdir(parents=True)
    generator.save("results/generative/g/generator.pt")
    record = kind.produce(tmp_path / "events.root", settings, 4)
    assert record["entries"] == 500 and 0 < record["mass_range_acceptance_signal"] <= 1
    frame = kind.build_features(tmp_path / "events.root")
    assert list(frame.columns[:3]) == ["event_id", "label", "weight"]
    assert frame["label"].sum() == 300
    assert frame.loc[frame.label == 1, "weight"].sum() == pytest.approx(10.0)
    assert in_mass_range(frame["m_mumu"].to_numpy()).all()
    assert list(frame.columns[3:]) == list(get_kind("dimuon").columns)


def test_config_names_the_generator_of_a_generated_dataset() -> None:
    config = {"datasets": {"dimuon": {}, "fake": {"kind": "generated", "generator": "nope"}}}
    with pytest.raises(ConfigError, match=r"datasets\.fake\.generator': no generator 'nope'"):
        validate_config(config)
    config = {"generative": {"generators": {"g": {"model": "gan", "critic": "blind", "stepz": 3}}}}
    with pytest.raises(
        ConfigError, match=r"generative\.generators\.g': unknown key\(s\) \['stepz'\]"
    ):
        validate_config(config)
    config = {
        "datasets": {"dimuon": {}, "fake": {"kind": "generated", "generator": "gan_blind"}},
        "models": {"gan": {"activate": False}},
    }
    with pytest.raises(ConfigError, match=r"'gan_blind' is not trained \(models\.gan\.activate"):
        validate_config(config)
    config = {
        "datasets": {
            "dimuon": {"activate": False},
            "fake": {"kind": "generated", "generator": "gan_blind"},
        }
    }
    with pytest.raises(ConfigError, match="is not an active dataset generators can learn"):
        validate_config(config)
    config = {"datasets": {"pulse": {}}, "generative": {"dataset": "pulse"}}
    with pytest.raises(
        ConfigError,
        match=r"generative\.dataset': the generators learn a dataset with exact physics",
    ):
        validate_config(config)


def test_generator_logged_as_a_pyfunc_loads_and_samples(toy: pd.DataFrame, tmp_path: Path) -> None:
    import mlflow

    from mlhep.generative.pyfunc import log_generator

    generator, _ = gan.train(toy, {**tiny_settings("wgan_gp", "blind"), "steps": 100}, seed=3)
    generator.save(tmp_path / "generator.pt")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("g", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        uri = log_generator(str(tmp_path / "generator.pt"))
    model = mlflow.pyfunc.load_model(uri)
    events = model.predict(pd.DataFrame({"label": [1, 1, 0, 0, 0]}), params={"seed": 4})
    assert list(events["label"]) == [1, 1, 0, 0, 0]
    assert in_mass_range(events["m_mumu"].to_numpy()).all()
    again = model.predict(pd.DataFrame({"label": [1, 1, 0, 0, 0]}), params={"seed": 4})
    pd.testing.assert_frame_equal(events, again)


def test_autoencoder_sees_only_background_and_flags_the_signal(toy: pd.DataFrame) -> None:
    from mlhep.models.base import FitContext

    config: dict = {}
    validate_config(config)
    settings = {**hyperparameters(config["models"]["autoencoder"]), "epochs": 15}
    frame = fidelity.with_weights(toy)
    train, validation, test = frame.iloc[:2400], frame.iloc[2400:3200], frame.iloc[3200:]
    trainer = get_trainer("autoencoder")
    columns = ["m_mumu", "pt_mumu", "n_jets"]
    fitted = trainer.fit(
        {"train": train, "validation": validation}, columns, settings, FitContext(seed=1)
    )
    again = trainer.fit(
        {"train": train, "validation": validation}, columns, settings, FitContext(seed=1)
    )
    scores = trainer.predict(fitted, test, columns)["score"].to_numpy()
    np.testing.assert_array_equal(scores, trainer.predict(again, test, columns)["score"].to_numpy())
    # the training never saw a signal event: the same fit without them is the same network
    only_bkg = {"train": train[train.label == 0], "validation": validation}
    same = trainer.fit(only_bkg, columns, settings, FitContext(seed=1))
    np.testing.assert_array_equal(scores, trainer.predict(same, test, columns)["score"].to_numpy())
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test["label"], scores) > 0.55
    assert fitted.curves["validation_loss"] and fitted.best_step >= 1


def _cubic_kernel_mean(
    mean_a: np.ndarray, var_a: np.ndarray, mean_b: np.ndarray, var_b: np.ndarray
) -> float:
    """E[(x.y/d + 1)^3] for independent x ~ N(mean_a, diag var_a), y ~ N(mean_b, diag var_b),
    in closed form: S = sum_i x_i y_i is a sum of independent products whose raw moments
    are products of Gaussian moments; its cumulants add, and (S/d + 1)^3 expands in them."""

    def raw(mu: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return mu, mu**2 + var, mu**3 + 3 * mu * var

    (a1, a2, a3), (b1, b2, b3) = raw(mean_a, var_a), raw(mean_b, var_b)
    m1, m2, m3 = a1 * b1, a2 * b2, a3 * b3  # raw moments of each product x_i y_i
    k1, k2, k3 = m1, m2 - m1**2, m3 - 3 * m2 * m1 + 2 * m1**3
    c1, c2, c3 = k1.sum(), k2.sum(), k3.sum()  # cumulants of S
    s1, s2, s3 = c1, c2 + c1**2, c3 + 3 * c2 * c1 + c1**3
    d = len(mean_a)
    return float(s3 / d**3 + 3 * s2 / d**2 + 3 * s1 / d + 1)


def test_unbiased_cubic_mmd_matches_its_closed_form_for_gaussians() -> None:
    """The KPD's statistic: the mean of the unbiased MMD^2 over independent batches equals
    MMD^2 = E_PP k + E_QQ k - 2 E_PQ k of two Gaussians, within its standard error."""
    mean_p, var_p = np.zeros(2), np.ones(2)
    mean_q, var_q = np.array([0.5, 0.0]), np.array([1.44, 1.0])
    exact = (
        _cubic_kernel_mean(mean_p, var_p, mean_p, var_p)
        + _cubic_kernel_mean(mean_q, var_q, mean_q, var_q)
        - 2 * _cubic_kernel_mean(mean_p, var_p, mean_q, var_q)
    )
    rng = np.random.default_rng(11)
    values = [
        distances._mmd_cubic_unbiased(
            rng.normal(mean_p, np.sqrt(var_p), size=(1000, 2)),
            rng.normal(mean_q, np.sqrt(var_q), size=(1000, 2)),
        )
        for _ in range(30)
    ]
    error = np.std(values, ddof=1) / np.sqrt(len(values))
    assert exact > 10 * error  # a difference the test can see
    assert abs(np.mean(values) - exact) < 4 * error, (np.mean(values), exact, error)
    # the same distribution: zero in expectation (unbiased), not a positive floor
    same = [
        distances._mmd_cubic_unbiased(rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)))
        for _ in range(30)
    ]
    assert abs(np.mean(same)) < 4 * np.std(same, ddof=1) / np.sqrt(len(same))


def test_ablation_keeps_a_change_only_when_it_helps_on_validation(toy: pd.DataFrame) -> None:
    from mlhep.generative import ablation

    base = {"auc_all": 0.70, "w1_mass_signal": 1.0}
    assert ablation.better({"auc_all": 0.69, "w1_mass_signal": 2.0}, base)  # clearly better
    assert not ablation.better({"auc_all": 0.699, "w1_mass_signal": 1.5}, base)  # noise, worse m
    assert ablation.better({"auc_all": 0.702, "w1_mass_signal": 0.5}, base)  # noise, better m
    # a W1 lower by less than two real samples differ (the reflection leaves the mass alone)
    assert not ablation.better({"auc_all": 0.699, "w1_mass_signal": 1.0 - 1e-15}, base)
    assert not ablation.better({"auc_all": 0.699, "w1_mass_signal": 0.95}, base)
    assert not ablation.better({"auc_all": 0.75, "w1_mass_signal": 0.1}, base)  # clearly worse

    # the greedy chain on real (tiny) trainings: every candidate judged on validation
    # events its monitor did not see; the kept settings are those of the best kept row
    shuffled = toy.sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, validation = shuffled.iloc[:3000], shuffled.iloc[3000:].reset_index(drop=True)
    judged: list[dict] = []

    def evaluate(settings: dict) -> dict:
        judged.append(settings)
        return ablation.judge(
            settings,
            train,
            validation,
            seed=3,
            events=400,
            monitor_events=200,
            distances={
                "fpd": {"min_samples": 100, "max_samples": 400, "num_points": 3, "num_batches": 2},
                "kpd": {"batch_size": 100, "num_batches": 2},
            },
        )

    # (the pair representation: an untrained generator of muons puts almost no event in the
    # mass range, and its sampling would take minutes)
    base = {**tiny_settings("gan", "physics"), "representation": "pair"}
    changes = (("no-op", {"representation": "pair"}), ("EMA", {"ema_decay": lambda s: 0.5}))
    rows, kept = ablation.chain(base, evaluate, changes)
    assert [r["change"] for r in rows] == ["baseline", "EMA"]  # the no-op skipped
    assert len(judged) == 2 and judged[1]["ema_decay"] == 0.5
    assert kept["ema_decay"] == (0.5 if rows[1]["kept"] else 0.0)
    assert rows[1]["kept"] == ablation.better(rows[1], rows[0])
    for row in rows:
        assert 0.0 <= row["auc_all"] <= 1.0 and row["train_s"] > 0 and row["events_per_s"] > 0
    table = ablation.markdown("gan_physics", rows)
    assert table.count("\n| ") == 3 and "| EMA |" in table


def test_ablation_starts_from_the_plain_model_and_skips_what_cannot_change() -> None:
    """The ablation's baseline drops the generator's own physics options (they are what it
    ablates) and keeps the rest; a blind critic, which does not see the mass, is not offered
    the mass scale; the stage's manifest names the ablation's record."""
    from mlhep.config import load_config
    from mlhep.generative import ablation
    from mlhep.plan import Plan

    default = Path(__file__).resolve().parents[1] / "config/config.yaml"
    plan = Plan(load_config(default))
    stage = plan.stage("generative")
    assert stage.ablated() == []  # off by default: about two minutes a candidate
    assert plan.manifest()["generative"]["ablation"] == {}
    config = load_config(default)
    config["generative"]["ablation"]["activate"] = True
    config["models"]["wgan_gp"]["width"] = 99
    config["generative"]["generators"]["wgan_gp_physics"]["layers"] = 2
    stage = Plan(config).stage("generative")
    assert stage.ablated() == ["gan_physics", "wgan_gp_physics"]
    full, plain = stage.settings("wgan_gp_physics"), stage.ablation_settings("wgan_gp_physics")
    assert full["representation"] == "pair" and plain["representation"] == "muons"
    assert (full["mmd_weight"], plain["mmd_weight"]) == (1.0, 0.0)
    assert plain["reflect"] is False and plain["mass_scale"] == 13.0  # the model's own
    assert plain["width"] == 99 and plain["layers"] == 2  # not ablated: kept as configured
    assert {k for k in full if full[k] != plain[k]} <= ablation.CHANGED_KEYS
    assert Plan(config).manifest()["generative"]["ablation"] == {
        "gan_physics": "results/generative/gan_physics/ablation.json",
        "wgan_gp_physics": "results/generative/wgan_gp_physics/ablation.json",
    }
    blind = {"critic": "blind", "steps": 100}
    assert all("mass_scale" not in c for _, c in ablation.applicable(blind))
    assert len(ablation.applicable(blind)) == len(ablation.CHANGES) - 1
    assert ablation.applicable({"critic": "physics"}) == list(ablation.CHANGES)


def test_rejection_draws_what_the_toy_accepts_and_gives_up_on_a_hopeless_generator() -> None:
    """Every event found, each from the accepted candidates of its own label, the tries
    counted as the toy counts them (geometric: 1/p per event); a generator accepted one
    time in a million fails fast, with the hint, instead of drawing for minutes."""
    from mlhep.generative.sampling import GIVE_UP_AFTER, MAX_CANDIDATES, rejection_sample

    rng = np.random.default_rng(1)
    labels = np.tile([0, 1], 500)
    drawn = []

    def draw(y: np.ndarray) -> np.ndarray:
        drawn.append(len(y))
        return np.column_stack([rng.random(len(y)), y])

    raw, keep, tried = rejection_sample(
        labels, 2, draw, lambda c: c[:, 0] < 0.01, 100, True, "train it longer"
    )
    assert keep.all() and (raw[:, 0] < 0.01).all() and (raw[:, 1] == labels).all()
    # 500 events per class at p = 0.01: 50,000 tries, sd sqrt(500 (1 - p)) / p = 2,225
    assert all(abs(tried[c] - 50_000) < 5 * 2_225 for c in (0, 1)), tried
    drawn.clear()
    with pytest.raises(RuntimeError, match=r"almost no events .* \(train it longer\)"):
        rejection_sample(labels, 2, draw, lambda c: c[:, 0] < 1e-6, 100, True, "train it longer")
    assert GIVE_UP_AFTER <= sum(drawn) <= GIVE_UP_AFTER + MAX_CANDIDATES  # not 100 rounds
    # not strict (the checkpoint monitor): the events found, the others marked missing
    raw, keep, tried = rejection_sample(labels, 2, draw, lambda c: c[:, 0] < 1e-3, 2, False, "")
    assert 0 < keep.sum() < len(labels) and (raw[keep, 0] < 1e-3).all()
