GENERATORS = GENERATIVE.generators()
GENERATIVE_SPLITS = GENERATIVE.inputs()


wildcard_constraints:
    generator="|".join(GENERATORS) or "no-generator",


rule train_generator:
    """Train one generator (GAN or WGAN-GP, blind or physics-informed critic) on the
    training split's low-level features; an MLflow run with its per-checkpoint losses and
    W1, the generator logged as a pyfunc model."""
    input:
        train=lambda wildcards: GENERATIVE_SPLITS["train"],
        validation=lambda wildcards: GENERATIVE_SPLITS["validation"],
        experiments=paths.MLFLOW_READY,
    output:
        generator=paths.GENERATOR_FILES["generator"],
        record=paths.GENERATOR_FILES["record"],
        history=report(
            paths.GENERATOR_FILES["history"],
            caption="../report/generator_history.rst",
            category="Generative models",
            subcategory="{generator}",
            labels={"figure": "training history", "generator": "{generator}"},
        ),
    log:
        "results/logs/train_generator/{generator}.log",
    conda:
        CONDA_ENV
    threads: lambda wildcards: GENERATIVE.threads(wildcards.generator)
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
    params:
        settings=lambda wildcards: GENERATIVE.settings(wildcards.generator),
        monitor_events=config["generative"]["monitor_events"],
        dataset=GENERATIVE.dataset(),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/train_generator.py"


rule generative_floor:
    """The noise floor: every fidelity metric between the held-out real events and fresh
    toy events of equal size, over several seeds; train-on-real as the reference."""
    input:
        **GENERATIVE_SPLITS,
    output:
        paths.FLOOR,
    log:
        "results/logs/generative_floor.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_REQUEST,
    params:
        settings=GENERATIVE.fidelity_settings(floor=True),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/generative_floor.py"


rule generator_fidelity:
    """Every fidelity metric of one generator against held-out real events, train on its
    events and test on real ones, its speed against the toy generator's."""
    input:
        **GENERATIVE_SPLITS,
        generator=paths.GENERATOR_FILES["generator"],
        record=paths.GENERATOR_FILES["record"],
        experiments=paths.MLFLOW_READY,
    output:
        fidelity=paths.GENERATOR_FILES["fidelity"],
        sample=paths.GENERATOR_FILES["sample"],
        features=report(
            paths.GENERATOR_FILES["features"],
            caption="../report/generator_features.rst",
            category="Generative models",
            subcategory="{generator}",
            labels={"figure": "features", "generator": "{generator}"},
        ),
        roc=report(
            paths.GENERATOR_FILES["roc"],
            caption="../report/generator_roc.rst",
            category="Generative models",
            subcategory="{generator}",
            labels={"figure": "two-sample ROC", "generator": "{generator}"},
        ),
    log:
        "results/logs/generator_fidelity/{generator}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_REQUEST,
    params:
        settings=GENERATIVE.fidelity_settings(),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/generator_fidelity.py"


rule generative_summary:
    """The fidelity table of every generator beside the noise floor, and the figures that
    compare them: the pair mass and the two-sample ROC curves."""
    input:
        floor=paths.FLOOR,
        fidelity=expand(paths.GENERATOR_FILES["fidelity"], generator=GENERATORS),
        samples=expand(paths.GENERATOR_FILES["sample"], generator=GENERATORS),
        test=GENERATIVE_SPLITS.get("test", []),
    output:
        table=paths.FIDELITY_TABLE,
        mass=report(
            paths.GENERATIVE_MASS,
            caption="../report/generative_mass.rst",
            category="Generative models",
            subcategory="comparison",
            labels={"figure": "pair mass"},
        ),
        roc=report(
            paths.GENERATIVE_ROC,
            caption="../report/generative_roc.rst",
            category="Generative models",
            subcategory="comparison",
            labels={"figure": "two-sample ROC"},
        ),
    log:
        "results/logs/generative_summary.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        generators=GENERATORS,
        settings=GENERATIVE.fidelity_settings(),
        seed=config["seed"],
    script:
        "../scripts/generative_summary.py"


rule generator_ablation:
    """The physics-built options of one GAN added one at a time from its plain model, each
    kept only if it helps on the validation split (generative.ablation); every candidate an
    MLflow run, children of the ablation's run."""
    input:
        train=lambda wildcards: GENERATIVE_SPLITS["train"],
        validation=lambda wildcards: GENERATIVE_SPLITS["validation"],
        experiments=paths.MLFLOW_READY,
    output:
        paths.GENERATOR_ABLATION,
    log:
        "results/logs/generator_ablation/{generator}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=GPU_REQUEST,
    params:
        settings=lambda wildcards: GENERATIVE.ablation_settings(wildcards.generator),
        ablation=GENERATIVE.ablation_params(),
        dataset=GENERATIVE.dataset(),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/generator_ablation.py"
