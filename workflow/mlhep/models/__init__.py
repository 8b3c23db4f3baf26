"""Models as plug-ins: a registry maps each model name (its config section ``models.<name>``)
to the module whose ``TRAINERS`` holds its :class:`~mlhep.models.base.Trainer`, and says
what kind of model it is and whether it can use a GPU.

The registry is light (no torch or XGBoost import) so that the workflow reads it while it
parses; :func:`get_trainer` imports a family only when a job trains it. Adding a model is
its trainer in a family module, one line here, and its config keys. Kinds: ``classifier``
(datasets whose task is classification) and ``regressor`` (the pulse dataset: amplitude
and arrival time); ``generator`` models will go through the same path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlhep.generative.flow import FlowTrainer
    from mlhep.generative.gan import GeneratorTrainer
    from mlhep.models.base import Trainer


class ModelKind(StrEnum):
    """What a model learns: a dataset's task names the kind it trains (a ``str``)."""

    CLASSIFIER = "classifier"
    REGRESSOR = "regressor"
    GENERATOR = "generator"


@dataclass(frozen=True)
class ModelEntry:
    """Where a model's trainer lives and what the workflow must know before importing it."""

    module: str  # the family module holding ``TRAINERS[name]``
    kind: ModelKind = ModelKind.CLASSIFIER
    gpu: bool = False  # trains on CUDA where the device setting allows (GPU request on clusters)
    curves: str | None = None  # the training step of its curves (epoch, boosting round)


#: Every trainable model by config name; the exact limit is not a model but a dataset's.
MODELS: dict[str, ModelEntry] = {
    "perceptron": ModelEntry("mlhep.models.sklearn"),
    "logistic": ModelEntry("mlhep.models.sklearn"),
    "fisher": ModelEntry("mlhep.models.sklearn"),
    "linear_mse": ModelEntry("mlhep.models.sklearn", curves="epoch"),
    "linear_bce": ModelEntry("mlhep.models.sklearn", curves="epoch"),
    "decision_tree": ModelEntry("mlhep.models.sklearn"),
    "hist_gbdt": ModelEntry("mlhep.models.sklearn", curves="boosting iteration"),
    "bdt": ModelEntry("mlhep.models.bdt", gpu=True, curves="boosting round"),
    "ann": ModelEntry("mlhep.models.ann", gpu=True, curves="epoch"),
    # unsupervised: trained on background only, its reconstruction error the score
    "autoencoder": ModelEntry("mlhep.models.autoencoder", gpu=True, curves="epoch"),
    # regressors of pulse amplitude and arrival time: the classical estimators, then networks
    "peak_sample": ModelEntry("mlhep.models.pulse", kind=ModelKind.REGRESSOR),
    "optimal_filter_fixed": ModelEntry("mlhep.models.pulse", kind=ModelKind.REGRESSOR),
    "optimal_filter": ModelEntry("mlhep.models.pulse", kind=ModelKind.REGRESSOR),
    "template_fit": ModelEntry("mlhep.models.pulse", kind=ModelKind.REGRESSOR),
    "template_fit_pileup": ModelEntry("mlhep.models.pulse", kind=ModelKind.REGRESSOR),
    "pulse_mlp": ModelEntry(
        "mlhep.models.pulse_nn", kind=ModelKind.REGRESSOR, gpu=True, curves="epoch"
    ),
    "pulse_cnn": ModelEntry(
        "mlhep.models.pulse_nn", kind=ModelKind.REGRESSOR, gpu=True, curves="epoch"
    ),
    # generators of events (config section generative): GANs trained by mlhep.generative.gan
    "gan": ModelEntry(
        "mlhep.generative.gan", kind=ModelKind.GENERATOR, gpu=True, curves="generator step"
    ),
    "wgan_gp": ModelEntry(
        "mlhep.generative.gan", kind=ModelKind.GENERATOR, gpu=True, curves="generator step"
    ),
    # ... and a conditional normalizing flow, trained by maximum likelihood
    "flow": ModelEntry(
        "mlhep.generative.flow", kind=ModelKind.GENERATOR, gpu=True, curves="training step"
    ),
}


def get_trainer(name: str) -> Trainer | GeneratorTrainer | FlowTrainer:
    """The trainer of model ``name`` (a :class:`~mlhep.models.base.Trainer`; for a
    generator a :class:`~mlhep.generative.gan.GeneratorTrainer` or
    :class:`~mlhep.generative.flow.FlowTrainer`); ``KeyError`` naming the
    known models."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return importlib.import_module(MODELS[name].module).TRAINERS[name]
