GENERATORS = PLAN.generators()
GENERATIVE = PLAN.generative_files()


wildcard_constraints:
    generator="|".join(GENERATORS) or "no-generator",


rule train_generator:
    """Train one generator (GAN or WGAN-GP, blind or physics-informed critic) on the
    training split's low-level features; an MLflow run with its per-checkpoint losses and
    W1, the generator logged as a pyfunc model."""
    input:
        train=lambda wildcards: PLAN.generative_inputs()["train"],
        validation=lambda wildcards: PLAN.generative_inputs()["validation"],
        experiments=MLFLOW_READY,
    output:
        generator="results/generative/{generator}/generator.pt",
        record="results/generative/{generator}/train.json",
        history=report(
            "results/generative/{generator}/history.png",
            caption="../report/generator_history.rst",
            category="Generative models",
            subcategory="{generator}",
            labels={"figure": "training history", "generator": "{generator}"},
        ),
    log:
        "results/logs/train_generator/{generator}.log",
    benchmark:
        "results/benchmarks/train_generator/{generator}.tsv"
    threads: lambda wildcards: PLAN.generator_threads(wildcards.generator)
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
    params:
        settings=lambda wildcards: PLAN.generator_settings(wildcards.generator),
        monitor_events=config["generative"]["monitor_events"],
        dataset=PLAN.generative_dataset(),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/train_generator.py"


rule generative_floor:
    """The noise floor: every fidelity metric between the held-out real events and fresh
    toy events of equal size, over several seeds; train-on-real as the reference."""
    input:
        **PLAN.generative_inputs(),
    output:
        "results/generative/floor.json",
    log:
        "results/logs/generative_floor.log",
    benchmark:
        "results/benchmarks/generative_floor.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_REQUEST,
    params:
        settings=PLAN.fidelity_settings(floor=True),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/generative_floor.py"


rule generator_fidelity:
    """Every fidelity metric of one generator against held-out real events, train on its
    events and test on real ones, its speed against the toy generator's."""
    input:
        **PLAN.generative_inputs(),
        generator="results/generative/{generator}/generator.pt",
        record="results/generative/{generator}/train.json",
        experiments=MLFLOW_READY,
    output:
        fidelity="results/generative/{generator}/fidelity.json",
        sample="results/generative/{generator}/sample.parquet",
        features=report(
            "results/generative/{generator}/features.png",
            caption="../report/generator_features.rst",
            category="Generative models",
            subcategory="{generator}",
            labels={"figure": "features", "generator": "{generator}"},
        ),
        roc=report(
            "results/generative/{generator}/roc.png",
            caption="../report/generator_roc.rst",
            category="Generative models",
            subcategory="{generator}",
            labels={"figure": "two-sample ROC", "generator": "{generator}"},
        ),
    log:
        "results/logs/generator_fidelity/{generator}.log",
    benchmark:
        "results/benchmarks/generator_fidelity/{generator}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_REQUEST,
    params:
        settings=PLAN.fidelity_settings(),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/generator_fidelity.py"


rule generative_summary:
    """The fidelity table of every generator beside the noise floor, and the figures that
    compare them: the pair mass and the two-sample ROC curves."""
    input:
        floor="results/generative/floor.json",
        fidelity=expand("results/generative/{generator}/fidelity.json", generator=GENERATORS),
        samples=expand("results/generative/{generator}/sample.parquet", generator=GENERATORS),
        test=PLAN.generative_inputs()["test"] if GENERATORS else [],
    output:
        table="results/generative/fidelity.csv",
        mass=report(
            "results/generative/mass.png",
            caption="../report/generative_mass.rst",
            category="Generative models",
            subcategory="comparison",
            labels={"figure": "pair mass"},
        ),
        roc=report(
            "results/generative/roc.png",
            caption="../report/generative_roc.rst",
            category="Generative models",
            subcategory="comparison",
            labels={"figure": "two-sample ROC"},
        ),
    log:
        "results/logs/generative_summary.log",
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        generators=GENERATORS,
        settings=PLAN.fidelity_settings(),
        seed=config["seed"],
    script:
        "../scripts/generative_summary.py"
