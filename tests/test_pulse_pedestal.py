"""Pulses with an unknown pedestal: the generator, the bound with the pedestal as a nuisance
parameter (against a numerical Fisher information and the numbers quoted in the docs), the
estimators that estimate it (at the bound), and a pulse dataset with a pedestal through the
one training path."""

from __future__ import annotations

import numpy as np
import pytest

from mlhep.config import ConfigError, validate_config
from mlhep.data.pulse.bound import cramer_rao
from mlhep.data.pulse.readout import SETTINGS_SCHEMA, Readout, generate_pulses
from mlhep.models.pulse import OptimalFilter, PeakSample, TemplateFit, filter_weights

DEFAULTS = {k: v["default"] for k, v in SETTINGS_SCHEMA.items()}
WITH_PEDESTAL = {**DEFAULTS, "pedestal_range": [-5.0, 5.0]}


def test_pedestal_is_drawn_only_where_asked_and_leaves_other_datasets_unchanged() -> None:
    plain = generate_pulses(DEFAULTS, 3000, np.random.default_rng(2))
    shifted = generate_pulses(WITH_PEDESTAL, 3000, np.random.default_rng(2))
    assert not Readout.from_settings(DEFAULTS).pedestal
    assert Readout.from_settings(WITH_PEDESTAL).pedestal
    assert (plain["pedestal"] == 0).all()
    # the same pulses and noise, the pedestal drawn after everything else
    np.testing.assert_array_equal(shifted["amplitude"], plain["amplitude"])
    np.testing.assert_allclose(shifted["samples"] - shifted["pedestal"][:, None], plain["samples"])
    assert shifted["pedestal"].min() >= -5 and shifted["pedestal"].max() <= 5
    assert abs(shifted["pedestal"].mean()) < 0.2 and shifted["pedestal"].std() > 2.7


def test_bound_with_a_pedestal_inverts_a_numerical_fisher_matrix() -> None:
    readout = Readout.from_settings(WITH_PEDESTAL)
    amplitude, t0, step = 7.0, 9.3, 1e-5

    def mean(theta: np.ndarray) -> np.ndarray:
        return theta[0] * readout.template(theta[1]) + theta[2]

    theta = np.array([amplitude, t0, 0.4])
    jacobian = np.column_stack(
        [(mean(theta + step * e) - mean(theta - step * e)) / (2 * step) for e in np.eye(3)]
    )
    covariance = np.linalg.inv(jacobian.T @ readout.precision @ jacobian)
    sigma_a, sigma_t0 = cramer_rao(amplitude, t0, readout)
    assert sigma_a == pytest.approx(np.sqrt(covariance[0, 0]), rel=1e-6)
    assert sigma_t0 == pytest.approx(np.sqrt(covariance[1, 1]), rel=1e-6)
    # RMS over the phase, as the docs quote it: 1.117 sigma and 27.2 ns / (A/sigma)
    phase = np.linspace(0.0, 25.0, 20001)
    sigma_a, sigma_t0 = cramer_rao(np.ones_like(phase), phase, readout)
    assert np.sqrt(np.mean(sigma_a**2)) == pytest.approx(1.117, abs=5e-4)
    assert np.sqrt(np.mean(sigma_t0**2)) == pytest.approx(27.16, abs=0.01)
    plain_a, _ = cramer_rao(np.ones_like(phase), phase, Readout.from_settings(DEFAULTS))
    assert (sigma_a > plain_a).all()


def test_filter_weights_cancel_the_pedestal() -> None:
    readout = Readout.from_settings(WITH_PEDESTAL)
    phase = np.array([3.0, 12.5, 21.0])
    a, b = filter_weights(readout, phase)
    g, h = readout.template(phase), readout.slope(phase)
    np.testing.assert_allclose((a * g).sum(1), 1.0, atol=1e-10)
    np.testing.assert_allclose((a * h).sum(1), 0.0, atol=1e-10)
    np.testing.assert_allclose((b * h).sum(1), -1.0, atol=1e-10)
    np.testing.assert_allclose(a.sum(1), 0.0, atol=1e-10)
    np.testing.assert_allclose(b.sum(1), 0.0, atol=1e-10)
    # the filter's variance on A is the bound with the pedestal
    sigma_a, _ = cramer_rao(np.ones(3), phase, readout)
    np.testing.assert_allclose(
        np.sqrt(np.einsum("gn,nm,gm->g", a, readout.covariance, a)), sigma_a, rtol=1e-9
    )


def test_estimators_meet_the_bound_with_a_pedestal_where_ignoring_it_fails() -> None:
    pulses = generate_pulses(WITH_PEDESTAL, 12000, np.random.default_rng(5))
    readout = Readout.from_settings(WITH_PEDESTAL)
    bound_a, bound_t0 = cramer_rao(pulses["amplitude"], pulses["t0"], readout)
    high = pulses["amplitude"] >= 20
    ratios = {}
    for name, model in (
        ("fit", TemplateFit(WITH_PEDESTAL)),
        ("filter", OptimalFilter(WITH_PEDESTAL)),
        ("fit ignoring it", TemplateFit(DEFAULTS)),
        ("peak", PeakSample(WITH_PEDESTAL)),
        ("peak ignoring it", PeakSample(DEFAULTS)),
    ):
        out = model.predict(pulses["samples"])
        ratios[name] = [
            np.sqrt(np.mean(((out[:, k] - pulses[v]) / b)[high] ** 2))
            for k, (v, b) in enumerate((("amplitude", bound_a), ("t0", bound_t0)))
        ]
    # at A/sigma >= 20 (about 4700 pulses: an RMS ratio has a standard error of about 1%)
    for name in ("fit", "filter"):
        assert ratios[name][0] == pytest.approx(1.0, abs=0.04), ratios
        assert ratios[name][1] == pytest.approx(1.0, abs=0.05), ratios
    assert ratios["fit ignoring it"][0] > 3  # a pedestal of +-5 sigma biases A
    assert ratios["peak"][0] < ratios["peak ignoring it"][0]


def test_pedestal_range_is_checked_naming_the_key() -> None:
    config = {"datasets": {"p": {"kind": "pulse", "pedestal_range": [3.0, -3.0]}}}
    with pytest.raises(ConfigError, match="pedestal_range"):
        validate_config(config)


def test_a_network_trained_on_pulses_with_a_pedestal_learns_to_remove_it() -> None:
    import pandas as pd
    import torch

    from mlhep.models.pulse_nn import predict, train

    columns = [f"s{k}" for k in range(8)]
    frames = {}
    for split, (n, seed) in {
        "train": (16000, 1),
        "validation": (4000, 2),
        "test": (6000, 3),
    }.items():
        pulses = generate_pulses(WITH_PEDESTAL, n, np.random.default_rng(seed))
        frames[split] = pd.DataFrame(pulses["samples"], columns=columns).assign(
            amplitude=pulses["amplitude"], t0=pulses["t0"]
        )
    settings = {
        "width": 32,
        "layers": 2,
        "learning_rate": 3e-3,
        "weight_decay": 0.0,
        "batch_size": 256,
        "epochs": 15,
        "min_epochs": 15,
        "patience": 15,
        "components": 3,
    }
    net, _ = train(frames, columns, "mlp", settings, torch.device("cpu"), 1, 0)
    test = frames["test"]
    out = predict(net, test[columns].to_numpy())
    bound_a, _ = cramer_rao(test["amplitude"], test["t0"], Readout.from_settings(WITH_PEDESTAL))
    high = test["amplitude"].to_numpy() >= 20
    ratio = np.sqrt(np.mean(((out[:, 0] - test["amplitude"]) / bound_a)[high] ** 2))
    # a fit that ignores the pedestal is at 3.9 bounds; fifteen short epochs bring the
    # network to 1.16 (the fit that estimates it: 1.0)
    assert ratio < 2.0, ratio
