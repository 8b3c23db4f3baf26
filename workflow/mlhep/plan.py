"""What the configured analysis consists of: the datasets, the (model, feature set) pairs
trained on each, the studies, and the path of every output. The rules' input functions
and the report's manifest are computed here, once, from the validated config, so that the
rules, the report and the tests agree on what a config means.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from mlhep.data import DatasetKind, get_kind
from mlhep.data.generated import GENERATIVE_DIR
from mlhep.models import MODELS
from mlhep.models.base import hyperparameters
from mlhep.studies.generalization import STUDIES as GENERALIZATION
from mlhep.studies.generalization import grid_points

SPLITS = ("train", "validation", "test")
MLFLOW_READY = "results/mlflow/experiments.json"
#: The model each model-specific study needs, and the file it writes.
STUDIES = {
    "tree": ("decision_tree", None, "tree.png"),
    "shap": ("bdt", "shap", "shap.json"),
    "importance": ("ann", "permutation_importance", "importance.json"),
}


#: Ensemble studies (config section ``studies.<name>``) and the model each trains.
ENSEMBLES = {"ensemble": "ann", "bdt_bootstrap": "bdt"}
#: Where the generalization studies write (one folder per study).
GENERALIZATION_DIR = "results/studies/generalization"
#: The MLflow experiment (after the prefix) of the generalization studies.
GENERALIZATION_EXPERIMENT = "generalization"


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, recursively: a rule's params in a form
    that does not depend on the order of keys in a config file or ``--config`` (Snakemake
    compares params by their repr, so reordering keys alone would re-run jobs)."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


class Plan:
    """The analysis a validated config describes (see :func:`mlhep.config.validate_config`)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    # --- datasets and what is trained on them ---------------------------------------------
    @cached_property
    def datasets(self) -> list[str]:
        """The active datasets, in config order."""
        return [name for name, ds in self.config["datasets"].items() if ds["activate"]]

    def kind(self, dataset: str) -> DatasetKind:
        """The plug-in of a dataset."""
        return get_kind(self.config["datasets"][dataset]["kind"])

    @cached_property
    def classification_datasets(self) -> list[str]:
        """The active datasets whose task is classification (the classifier stages)."""
        return [d for d in self.datasets if self.kind(d).task == "classification"]

    @cached_property
    def regression_datasets(self) -> list[str]:
        """The active datasets whose task is regression (the pulse stages)."""
        return [d for d in self.datasets if self.kind(d).task == "regression"]

    def feature_sets(self, dataset: str) -> dict[str, list[str]]:
        """The named feature sets of a dataset."""
        return dict(self.config["datasets"][dataset]["feature_sets"])

    def columns(self, dataset: str, features: str) -> list[str]:
        """The columns of one feature set."""
        return list(self.config["datasets"][dataset]["feature_sets"][features])

    def model_on(self, model: str) -> bool:
        """Whether a model is switched on (``models.<name>.activate``)."""
        return bool(self.config["models"][model]["activate"])

    def trained(self, dataset: str) -> list[tuple[str, str]]:
        """(model, feature set) pairs trained on a dataset, models in registry order."""
        chosen = self.config["datasets"][dataset]["models"]
        return [(m, f) for m in MODELS if m in chosen and self.model_on(m) for f in chosen[m]]

    def trained_sets(self, dataset: str) -> list[str]:
        """Feature sets some model trains on, in config order."""
        used = {f for _, f in self.trained(dataset)}
        return [f for f in self.feature_sets(dataset) if f in used]

    def models_on(self, dataset: str, features: str) -> list[str]:
        """The models trained on one feature set of a dataset."""
        return [m for m, f in self.trained(dataset) if f == features]

    def feature_sets_of(self, dataset: str, model: str) -> list[str]:
        """The feature sets a model trains on in a dataset."""
        return [f for m, f in self.trained(dataset) if m == model]

    def has_limit(self, dataset: str, features: str) -> bool:
        """Whether a feature set of a dataset has an exact limit."""
        return self.kind(dataset).limit_available(self.columns(dataset, features))

    def calibration_sets(self, dataset: str) -> list[str]:
        """Trained feature sets with an exact limit: their probabilities meet the truth."""
        return [f for f in self.trained_sets(dataset) if self.has_limit(dataset, f)]

    def limit_sets(self, dataset: str) -> list[str]:
        """Feature sets whose limit the stage ``bayes_optimal`` computes (empty: off)."""
        return list(self.config["datasets"][dataset]["limit"])

    def curve_models(self, dataset: str) -> list[str]:
        """Trained models that record per-step training curves."""
        return [m for m in MODELS if MODELS[m].curves and self.feature_sets_of(dataset, m)]

    def gpu_models(self) -> list[str]:
        """Models that can train on a GPU."""
        return [m for m, entry in MODELS.items() if entry.gpu]

    # --- paths --------------------------------------------------------------------------
    @staticmethod
    def model_dir(dataset: str, model: str, features: str) -> str:
        """Where a training job writes (model directory, predictions, record)."""
        return f"results/models/{dataset}/{model}/{features}"

    def study_files(self, dataset: str) -> dict[str, dict[str, str]]:
        """Switched-on model studies: study -> feature set -> its main output."""
        out: dict[str, dict[str, str]] = {}
        studies = self.config["studies"]
        for study, (model, key, target) in STUDIES.items():
            if key is not None and not studies[key]["activate"]:
                continue
            sets = self.feature_sets_of(dataset, model)
            if sets:
                out[study] = {f: f"results/studies/{dataset}/{model}/{f}/{target}" for f in sets}
        for study, model in ENSEMBLES.items():
            ensemble = studies[study]
            f = ensemble["feature_set"]
            if ensemble["activate"] and self.model_on(model) and f in self.feature_sets(dataset):
                folder = "ensemble" if study == "ensemble" else study
                out[study] = {f: f"results/studies/{dataset}/{folder}/{f}/ensemble.json"}
        return out

    def ensemble_files(self, dataset: str) -> dict[str, dict[str, str]]:
        """The switched-on ensemble studies of a dataset (a part of :meth:`study_files`)."""
        return {k: v for k, v in self.study_files(dataset).items() if k in ENSEMBLES}

    def gd_records(self, dataset: str) -> list[str]:
        """Training records of the gradient-descent models (MSE and BCE)."""
        return [
            f"{self.model_dir(dataset, m, f)}/train.json"
            for m in ("linear_mse", "linear_bce")
            for f in self.feature_sets_of(dataset, m)
        ]

    def experiments(self) -> list[str]:
        """MLflow experiments: one per active dataset, Iris for the lecture, and one for the
        generalization studies (always: switching a study on must not re-run the store's
        rule and with it every job that logs); sorted, so that reordering the config's
        datasets re-runs nothing."""
        iris = self.config["lecture"]["perceptron_iris"]["activate"]
        return sorted(self.datasets) + (["iris"] if iris else []) + [GENERALIZATION_EXPERIMENT]

    # --- generalization studies -----------------------------------------------------------
    @property
    def _generalization(self) -> Mapping[str, Any]:
        return self.config["studies"]["generalization"]

    def generalization_dataset(self) -> str | None:
        """The dataset the dataset studies train on (``studies.generalization.dataset``, or
        the first active dataset); ``None`` if it is not active."""
        name = self._generalization["dataset"]
        if name is None:
            first = self.classification_datasets
            return first[0] if first else None
        return name if name in self.classification_datasets else None

    def generalization_studies(self) -> list[str]:
        """The switched-on generalization studies, in registry order (a dataset study only
        when its dataset is active)."""
        section = self._generalization
        if not section["activate"]:
            return []
        return [
            s
            for s, entry in GENERALIZATION.items()
            if section[s]["activate"]
            and (entry.data != "dataset" or self.generalization_dataset() is not None)
        ]

    def study_points(self, study: str) -> dict[str, dict[str, Any]]:
        """A study's grid points by name, in grid order."""
        return grid_points(study, self._generalization[study])

    def study_point(self, study: str, name: str) -> dict[str, Any]:
        """One grid point; ``KeyError`` naming the grid if the name is not on it."""
        points = self.study_points(study)
        if name not in points:
            raise KeyError(
                f"{name!r} is not a point of studies.generalization.{study}: {sorted(points)}"
            )
        return points[name]

    def study_settings(self, study: str, name: str) -> dict[str, Any]:
        """What a point's job depends on besides its grid values: the study's own keys (not
        its grid), the pulse or the dataset's columns, and the settings of the model it
        starts from (a point of the learning curve: its own model's only), so that adding a
        grid value leaves every other point's job unchanged."""
        entry, section = GENERALIZATION[study], self._generalization
        settings = {k: v for k, v in section[study].items() if k not in ("activate", *entry.axes)}
        if entry.data == "pulse":
            settings["pulse"] = dict(section["pulse"])
        if entry.data == "dataset":
            dataset = self.generalization_dataset()
            settings["dataset"] = dataset
            settings["columns"] = self.columns(dataset, settings["features"])
            settings["n_validation"] = section["n_validation"]
        model = self.study_point(study, name)["model"] if entry.model == "point" else entry.model
        if model is not None:  # less what the grid sets: a change there changes no point
            hp = hyperparameters(self.config["models"][model])
            settings["model"] = {k: v for k, v in hp.items() if k not in entry.axes}
        return canonical(settings)

    def study_limit(self, study: str) -> str | None:
        """The limit file whose AUC a dataset study is drawn against (``None`` where the
        limit stage does not compute its feature set)."""
        entry, section = GENERALIZATION[study], self._generalization
        if entry.data != "dataset" or "features" not in section[study]:
            return None
        dataset = self.generalization_dataset()
        if dataset is not None and section[study]["features"] in self.limit_sets(dataset):
            return f"results/evaluation/{dataset}/bayes_optimal.json"
        return None

    def study_inputs(self, study: str) -> dict[str, str]:
        """The input files of a study's points: the MLflow store and, for a dataset study,
        the dataset's splits."""
        inputs = {"experiments": MLFLOW_READY}
        if GENERALIZATION[study].data == "dataset":
            dataset = self.generalization_dataset()
            inputs.update({s: f"results/splits/{dataset}/{s}.parquet" for s in SPLITS})
        return inputs

    @staticmethod
    def study_point_file(study: str, name: str) -> str:
        """The result of one grid point."""
        return f"{GENERALIZATION_DIR}/{study}/points/{name}.json"

    @staticmethod
    def generalization_files(study: str) -> dict[str, str]:
        """A study's summary, its table of points and its figure."""
        folder = f"{GENERALIZATION_DIR}/{study}"
        return {
            "summary": f"{folder}/summary.json",
            "table": f"{folder}/points.csv",
            "figure": f"{folder}/{study}.png",
        }

    # --- regression (pulse) datasets ------------------------------------------------------
    @staticmethod
    def regression_files(dataset: str) -> dict[str, str]:
        """What the evaluation of a regression dataset writes: every method against the
        Cramer-Rao bound (tables and figures)."""
        folder = f"results/evaluation/{dataset}/regression"
        return {
            "summary": f"{folder}/summary.json",
            "table": f"{folder}/resolution.csv",
            "resolution": f"{folder}/resolution.png",
            "phase": f"{folder}/phase.png",
            "pulls": f"{folder}/pulls.png",
            "pulses": f"{folder}/pulses.png",
            "training": f"{folder}/training.png",
        }

    def regression_entry(self, dataset: str) -> dict[str, Any]:
        """The report's entry of one regression dataset."""
        return {
            "kind": self.kind(dataset).name,
            "description": self.kind(dataset).description,
            "generation": f"results/data/{dataset}/generation.json",
            "splits": f"results/splits/{dataset}/splits.json",
            "trained": [
                {"model": m, "features": f, "record": f"{self.model_dir(dataset, m, f)}/train.json"}
                for m, f in self.trained(dataset)
            ],
            **self.regression_files(dataset),
        }

    # --- the Z peak ---------------------------------------------------------------------
    def z_peak_dataset(self) -> str | None:
        """The dataset whose mass peak ``studies.z_peak`` fits (``None``: the fit is off):
        the configured one, or the first active ``root`` dataset with the column."""
        section = self.config["studies"]["z_peak"]
        if not section["activate"]:
            return None
        if section["dataset"] is not None:
            return (
                section["dataset"] if section["dataset"] in self.classification_datasets else None
            )
        return next(
            (
                d
                for d in self.classification_datasets
                if self.kind(d).name == "root"
                and section["column"] in self.kind(d).columns_for(self.config["datasets"][d])
            ),
            None,
        )

    def z_peak_files(self) -> dict[str, str] | None:
        """What the Z-peak fit writes: the fit record and its two figures."""
        dataset = self.z_peak_dataset()
        if dataset is None:
            return None
        folder = f"results/studies/{dataset}/z_peak"
        return {
            "dataset": dataset,
            "fit": f"{folder}/fit.json",
            "figure": f"{folder}/fit.png",
            "gof": f"{folder}/gof.png",
            "generation": f"results/data/{dataset}/generation.json",
        }

    # --- the generative stage -----------------------------------------------------------
    def generative_dataset(self) -> str | None:
        """The dataset the generators learn (``None``: the stage is off or its dataset is)."""
        from mlhep.config import generative_dataset

        if not self.config["generative"]["activate"]:
            return None
        name = generative_dataset(self.config)
        return name if name in self.classification_datasets else None

    def generators(self) -> list[str]:
        """The generators trained, in config order (their model switched on)."""
        if self.generative_dataset() is None:
            return []
        gens = self.config["generative"]["generators"]
        return [n for n, e in gens.items() if self.config["models"][e["model"]]["activate"]]

    def generator_settings(self, name: str) -> dict[str, Any]:
        """A generator's training settings: its model's hyper-parameters, its overrides,
        its objective (the model) and its critic."""
        entry = self.config["generative"]["generators"][name]
        overrides = {k: v for k, v in entry.items() if k not in ("model", "critic")}
        settings = {
            **hyperparameters(self.config["models"][entry["model"]]),
            **overrides,
            "objective": entry["model"],
            "critic": entry["critic"],
        }
        if entry["critic"] == "blind":  # what only the physics-informed critic reads
            settings.pop("mass_scale", None)
        return canonical(settings)

    def generator_threads(self, name: str) -> int:
        """CPU threads of a generator's jobs (its model's ``threads``)."""
        model = self.config["generative"]["generators"][name]["model"]
        return int(self.config["models"][model]["threads"])

    def fidelity_settings(self, floor: bool = False) -> dict[str, Any]:
        """What the fidelity jobs depend on: the stage's sample sizes, FPD and KPD settings,
        train-on-synthetic's models (with their hyper-parameters) and columns; for the
        noise floor's job also the number of its seeds (which no generator's job reads)."""
        section = self.config["generative"]
        dataset = self.generative_dataset()
        tstr = section["train_on_synthetic"]
        keys = ("events", "fpd", "kpd", *(("floor_seeds",) if floor else ()))
        return canonical(
            {
                **{k: section[k] for k in keys},
                "train_on_synthetic": dict(tstr),
                "tstr_models": {
                    m: hyperparameters(self.config["models"][m]) for m in tstr["models"]
                },
                "tstr_columns": self.columns(dataset, tstr["features"]) if dataset else [],
            }
        )

    def generative_inputs(self) -> dict[str, str]:
        """The splits of the generators' dataset."""
        dataset = self.generative_dataset()
        return {s: f"results/splits/{dataset}/{s}.parquet" for s in SPLITS}

    @staticmethod
    def generator_files(name: str) -> dict[str, str]:
        """What the stage writes for one generator."""
        folder = f"{GENERATIVE_DIR}/{name}"
        return {
            "generator": f"{folder}/generator.pt",
            "record": f"{folder}/train.json",
            "history": f"{folder}/history.png",
            "fidelity": f"{folder}/fidelity.json",
            "sample": f"{folder}/sample.parquet",
            "features": f"{folder}/features.png",
            "roc": f"{folder}/roc.png",
        }

    def generative_files(self) -> dict[str, Any] | None:
        """The stage's outputs (``None`` when it is off)."""
        if not self.generators():
            return None
        return {
            "dataset": self.generative_dataset(),
            "floor": f"{GENERATIVE_DIR}/floor.json",
            "table": f"{GENERATIVE_DIR}/fidelity.csv",
            "mass": f"{GENERATIVE_DIR}/mass.png",
            "roc": f"{GENERATIVE_DIR}/roc.png",
            "generators": {n: self.generator_files(n) for n in self.generators()},
        }

    def has_summary(self) -> bool:
        """Whether there is anything to summarise (a trained model or a limit)."""
        return any(self.trained(d) or self.limit_sets(d) for d in self.classification_datasets)

    # --- the report's manifest and the final outputs --------------------------------------
    def manifest(self) -> dict[str, Any]:
        """Every result the report shows, by dataset and kind, with the stages that are on
        (the report's only source: nothing parses paths back)."""
        lecture = self.config["lecture"]
        iris = lecture["perceptron_iris"]["activate"]
        losses = lecture["loss_functions"]["activate"]
        datasets = {}
        for d in self.classification_datasets:
            studies = self.study_files(d)
            datasets[d] = {
                "kind": self.kind(d).name,
                "description": self.kind(d).description,
                "generation": f"results/data/{d}/generation.json",
                "splits": f"results/splits/{d}/splits.json",
                "distributions": f"results/features/{d}/distributions.png",
                "feature_sets": self.feature_sets(d),
                "trained_sets": self.trained_sets(d),
                "limit": f"results/evaluation/{d}/bayes_optimal.json"
                if self.limit_sets(d)
                else None,
                "trained": [
                    {
                        "model": m,
                        "features": f,
                        "record": f"{self.model_dir(d, m, f)}/train.json",
                        "metrics": f"results/evaluation/{d}/{m}/{f}/metrics.json",
                        "roc": f"results/evaluation/{d}/{m}/{f}/roc.png",
                        "scores": f"results/evaluation/{d}/{m}/{f}/scores.png",
                    }
                    for m, f in self.trained(d)
                ],
                "roc": {f: f"results/evaluation/{d}/roc_{f}.png" for f in self.trained_sets(d)},
                "calibration": {
                    f: {
                        "plot": f"results/evaluation/{d}/calibration_{f}.png",
                        "table": f"results/evaluation/{d}/calibration_{f}.json",
                    }
                    for f in self.calibration_sets(d)
                },
                "training": {
                    m: f"results/evaluation/{d}/training_{m}.png" for m in self.curve_models(d)
                },
                "gd": f"results/evaluation/{d}/gd_mse_vs_bce.png"
                if losses and self.gd_records(d)
                else None,
                "studies": {
                    study: {
                        f: {
                            "result": path,
                            "figure": path.rsplit("/", 1)[0] + "/" + STUDY_FIGURES[study],
                        }
                        for f, path in files.items()
                    }
                    for study, files in studies.items()
                },
            }
        return {
            "experiments": MLFLOW_READY,
            "datasets": datasets,
            "summary": "results/evaluation/summary.csv" if self.has_summary() else None,
            "iris": {
                "result": "results/lecture/perceptron_iris/result.json",
                "errors": "results/lecture/perceptron_iris/errors.png",
                "regions": "results/lecture/perceptron_iris/regions.png",
            }
            if iris
            else None,
            "loss_functions": "results/lecture/loss_functions.png" if losses else None,
            "generalization": {
                "studies": {s: self.generalization_files(s) for s in self.generalization_studies()},
                "selection": f"{GENERALIZATION_DIR}/selection.csv",
            }
            if self.generalization_studies()
            else None,
            "regression": {
                d: self.regression_entry(d) for d in self.regression_datasets if self.trained(d)
            }
            or None,
            "z_peak": self.z_peak_files(),
            "generative": self.generative_files(),
            "stages": self.stages(),
        }

    def stages(self) -> dict[str, str | None]:
        """For each report section: ``None`` when it has something to show, else why it is
        empty (naming the config key that switches it on)."""
        lecture = self.config["lecture"]
        classified = self.classification_datasets
        trained = any(self.trained(d) for d in classified)
        curves = any(self.curve_models(d) or self.study_files(d) for d in classified)
        return {
            "data": None
            if self.datasets
            else "no data set is switched on (`datasets.<name>.activate`)",
            "perceptron": None
            if lecture["perceptron_iris"]["activate"]
            else "switched off in the config (`lecture.perceptron_iris.activate`)",
            "linear": None
            if lecture["loss_functions"]["activate"]
            else "switched off in the config (`lecture.loss_functions.activate`)",
            "classifiers": None
            if trained
            else "no classifier is switched on (`models.<name>.activate`, `datasets.<name>.models`)",
            "calibration": None
            if any(self.calibration_sets(d) or self.ensemble_files(d) for d in classified)
            else "no trained feature set has an exact limit and no ensemble is switched on "
            "(`datasets.<name>.limit`, `studies.ensemble.activate`, `studies.bdt_bootstrap.activate`)",
            "details": None
            if curves
            else "switched off in the config (no model with training curves or studies is trained)",
            "generalization": None
            if self.generalization_studies()
            else "switched off in the config (`studies.generalization.activate` and each "
            "study's `activate`)",
            "regression": None
            if any(self.trained(d) for d in self.regression_datasets)
            else "no pulse dataset with a regressor is switched on (`datasets.<name>.kind: "
            "pulse`, `models.<name>.activate`)",
            "z_peak": None
            if self.z_peak_dataset()
            else "switched off in the config (`studies.z_peak.activate`), or no active dataset "
            "of kind root with the mass column (`studies.z_peak.dataset`, `.column`)",
            "generative": None
            if self.generators()
            else "switched off in the config (`generative.activate`, `models.gan.activate`, "
            "`models.wgan_gp.activate`), or its dimuon dataset is not active (`generative.dataset`)",
            "reproducibility": None,
        }

    def outputs(self) -> list[str]:
        """Every final output of the configured analysis (the inputs of rule all)."""
        manifest = self.manifest()
        out = [MLFLOW_READY, *manifest_files(manifest)]
        if manifest["summary"]:
            out.append("results/evaluation/summary.md")
        if manifest["generalization"]:
            out.append(f"{GENERALIZATION_DIR}/selection.md")
        if self.config["report"]["activate"]:
            out.append("results/report/report.html")
        return list(dict.fromkeys(out))


#: The figure each study draws beside its result file.
STUDY_FIGURES = {
    "tree": "tree.png",
    "shap": "shap.png",
    "importance": "importance.png",
    "ensemble": "spread.png",
    "bdt_bootstrap": "spread.png",
}


def manifest_files(manifest: Any) -> list[str]:
    """Every result path in a manifest (the report's inputs), once each, in a stable order."""
    return list(dict.fromkeys(_paths(manifest)))


def _paths(node: Any) -> list[str]:
    """The ``results/`` paths anywhere in a manifest node (not in its names and columns)."""
    if isinstance(node, str):
        return [node] if node.startswith("results/") else []
    if isinstance(node, Mapping):
        keys = [k for k in node if k not in ("stages", "feature_sets", "trained_sets")]
        return [p for k in keys for p in _paths(node[k])]
    if isinstance(node, list):
        return [p for item in node for p in _paths(item)]
    return []
