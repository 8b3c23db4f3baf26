"""The generative stage (``generative``): generators of events trained on a dataset whose
exact physics judges them, their fidelity beside the noise floor, and datasets of kind
``generated`` sampled from them; the report's section 10."""

from __future__ import annotations

from typing import Any

from mlhep import paths
from mlhep.core import canonical
from mlhep.models import MODELS, ModelKind
from mlhep.stages import Stage

KEY = "generative"
#: The generator models trained against a critic (their entries name it).
ADVERSARIAL = ("gan", "wgan_gp")


class GenerativeStage(Stage):
    """The generators, their judging and the stage's summary."""

    name = "generative"
    key = KEY
    sections = ("generative",)

    def dataset_name(self) -> str | None:
        """The dataset the generators learn: ``generative.dataset`` or the first active
        dataset whose kind generators can learn (``None`` if there is none)."""
        name = self.section["dataset"]
        if name is not None:
            return str(name)
        a = self.analysis
        return next((d for d in a.datasets if a.kind(d).learnable_by_generators), None)

    def dataset(self) -> str | None:
        """The dataset the generators learn (``None``: the stage is off or its dataset is)."""
        if not self.section["activate"]:
            return None
        name = self.dataset_name()
        return name if name in self.analysis.classification_datasets else None

    def generators(self) -> list[str]:
        """The generators trained, in config order (their model switched on)."""
        if self.dataset() is None:
            return []
        return [
            n for n, e in self.section["generators"].items() if self.analysis.model_on(e["model"])
        ]

    def ablated(self) -> list[str]:
        """The generators whose options are ablated (``generative.ablation``), among those
        trained."""
        ablation = self.section["ablation"]
        if not ablation["activate"]:
            return []
        trained = self.generators()
        return [n for n in ablation["generators"] if n in trained]

    def errors(self) -> list[str]:
        """The stage's dataset, generators and train-on-synthetic models; datasets whose
        kind samples a generator must name one the stage trains."""
        section, config, key = self.section, self.config, f"config key '{KEY}"
        a, messages = self.analysis, []
        name = self.dataset_name() if section["activate"] else None
        dataset = config["datasets"].get(name) if name is not None else None
        learnable = dataset is not None and a.kind(name).learnable_by_generators
        learnt = learnable and dataset["activate"]
        for sampled, settings in config["datasets"].items():
            if not (settings["activate"] and a.kind(sampled).samples_generator):
                continue
            where = f"config key 'datasets.{sampled}.generator'"
            generator = section["generators"].get(settings["generator"])
            if not section["activate"]:
                messages.append(f"{where}: the generative stage is off ({KEY}.activate)")
            elif generator is None:
                messages.append(
                    f"{where}: no generator {settings['generator']!r} "
                    f"({KEY}.generators: {sorted(section['generators'])})"
                )
            elif not a.model_on(generator["model"]):
                messages.append(
                    f"{where}: generator {settings['generator']!r} is not trained "
                    f"(models.{generator['model']}.activate is false)"
                )
            elif not learnt:
                messages.append(
                    f"{where}: generator {settings['generator']!r} is not trained "
                    f"(its dataset {name!r} is not an active dataset generators can learn)"
                )
        if not section["activate"] or name is None:  # nothing to learn: the stage is off
            return messages
        if not learnable:
            messages.append(
                f"{key}.dataset': the generators learn a dataset with exact physics to judge "
                f"them by (a kind such as dimuon); got {name!r}"
            )
            return messages
        for gen_name, entry in section["generators"].items():
            model = config["models"][entry["model"]]
            adversarial = entry["model"] in ADVERSARIAL
            if adversarial != ("critic" in entry):
                messages.append(
                    f"{key}.generators.{gen_name}.critic': "
                    + (
                        f"a {entry['model']} generator names its critic (blind or physics)"
                        if adversarial
                        else f"a {entry['model']} generator has no critic"
                    )
                )
            unknown = sorted(set(entry) - {"model", "critic"} - set(model))
            if unknown:
                messages.append(
                    f"{key}.generators.{gen_name}': unknown key(s) {unknown} (the "
                    f"hyper-parameters of models.{entry['model']}: {sorted(model)})"
                )
        messages += self._ablation_errors()
        tstr = section["train_on_synthetic"]
        for model in tstr["models"]:
            if model not in MODELS or MODELS[model].kind != ModelKind.CLASSIFIER:
                messages.append(
                    f"{key}.train_on_synthetic.models': {model!r} is not a classifier "
                    "of models.<name>"
                )
        if tstr["features"] not in dataset["feature_sets"]:
            messages.append(
                f"{key}.train_on_synthetic.features': dataset {name!r} has no feature set "
                f"{tstr['features']!r} (it has {sorted(dataset['feature_sets'])})"
            )
        return messages

    def _ablation_errors(self) -> list[str]:
        """The ablated generators must be GANs or WGAN-GPs the stage trains."""
        ablation = self.section["ablation"]
        if not ablation["activate"]:
            return []
        generators, messages = self.section["generators"], []
        key = f"config key '{KEY}.ablation.generators'"
        for name in ablation["generators"]:
            if name not in generators:
                messages.append(
                    f"{key}: no generator {name!r} ({KEY}.generators: {sorted(generators)})"
                )
            elif generators[name]["model"] not in ADVERSARIAL:
                messages.append(
                    f"{key}: generator {name!r} is a {generators[name]['model']}; the ablated "
                    f"options are a GAN's ({', '.join(ADVERSARIAL)})"
                )
            elif not self.analysis.model_on(generators[name]["model"]):
                messages.append(
                    f"{key}: generator {name!r} is not trained "
                    f"(models.{generators[name]['model']}.activate is false)"
                )
        return messages

    def status(self) -> dict[str, str | None]:
        """On while a generator is trained."""
        if self.generators():
            return {"generative": None}
        return {
            "generative": f"switched off in the config (`{KEY}.activate`, `models.gan.activate`"
            f", `models.wgan_gp.activate`), or its dimuon dataset is not active (`{KEY}.dataset`)"
        }

    @staticmethod
    def generator_files(name: str) -> dict[str, str]:
        """What the stage writes for one generator."""
        return paths.fill_all(paths.GENERATOR_FILES, generator=name)

    def manifest(self) -> dict[str, Any]:
        """The floor, the table, the comparison figures and every generator's files."""
        generators = self.generators()
        if not generators:
            return {"generative": None}
        return {
            "generative": {
                "dataset": self.dataset(),
                "floor": paths.FLOOR,
                "table": paths.FIDELITY_TABLE,
                "mass": paths.GENERATIVE_MASS,
                "roc": paths.GENERATIVE_ROC,
                "generators": {n: self.generator_files(n) for n in generators},
                "ablation": {
                    n: paths.fill(paths.GENERATOR_ABLATION, generator=n) for n in self.ablated()
                },
            }
        }

    # --- params of the rules ----------------------------------------------------------------
    def settings(self, name: str) -> dict[str, Any]:
        """A generator's training settings: its model's hyper-parameters, its overrides,
        its objective (the model) and, for a GAN, its critic."""
        return self._settings(self.section["generators"][name])

    def ablation_settings(self, name: str) -> dict[str, Any]:
        """Where a generator's ablation starts: its settings with every option the ablation
        changes (:data:`mlhep.generative.ablation.CHANGED_KEYS`) at its model's value."""
        from mlhep.generative.ablation import CHANGED_KEYS

        entry = self.section["generators"][name]
        return self._settings({k: v for k, v in entry.items() if k not in CHANGED_KEYS})

    def ablation_params(self) -> dict[str, Any]:
        """What every ablation job depends on besides its generator's settings: its judged
        and monitored events and the FPD and KPD settings."""
        section = self.section
        return canonical(
            {
                "events": section["ablation"]["events"],
                "monitor_events": section["monitor_events"],
                "distances": {k: section[k] for k in ("fpd", "kpd")},
            }
        )

    def _settings(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The training settings of a generator entry (see :meth:`settings`)."""
        overrides = {k: v for k, v in entry.items() if k not in ("model", "critic")}
        settings = {
            **self.analysis.hyperparameters(entry["model"]),
            **overrides,
            "objective": entry["model"],
        }
        if "critic" in entry:
            settings["critic"] = entry["critic"]
        if entry.get("critic") == "blind":  # what only the physics-informed critic reads
            settings.pop("mass_scale", None)
        return canonical(settings)

    def threads(self, name: str) -> int:
        """CPU threads of a generator's jobs (its model's ``threads``)."""
        model = self.section["generators"][name]["model"]
        return int(self.config["models"][model]["threads"])

    def fidelity_settings(self, floor: bool = False) -> dict[str, Any]:
        """What the fidelity jobs depend on: the stage's sample sizes, FPD and KPD settings,
        train-on-synthetic's models (with their hyper-parameters) and columns; for the
        noise floor's job also the number of its seeds (which no generator's job reads)."""
        section, a = self.section, self.analysis
        dataset = self.dataset()
        tstr = section["train_on_synthetic"]
        keys = ("events", "fpd", "kpd", *(("floor_seeds",) if floor else ()))
        return canonical(
            {
                **{k: section[k] for k in keys},
                "train_on_synthetic": dict(tstr),
                "tstr_models": {m: a.hyperparameters(m) for m in tstr["models"]},
                "tstr_columns": a.columns(dataset, tstr["features"]) if dataset else [],
            }
        )

    def inputs(self) -> dict[str, str]:
        """The splits of the generators' dataset (none while the stage is off)."""
        dataset = self.dataset()
        return self.analysis.split_files(dataset) if dataset else {}


STAGE = GenerativeStage
