rule evaluate_regression:
    """Every pulse regressor of a dataset against the Cramer-Rao bound: bias, resolution
    and pulls of amplitude and arrival time against A/sigma, the phase and pile-up; the
    table, the figures, and the metrics logged into each regressor's MLflow run."""
    input:
        unpack(regression_predictions),
        records=regression_records,
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        summary="results/evaluation/{dataset}/regression/summary.json",
        table=report(
            "results/evaluation/{dataset}/regression/resolution.csv",
            caption="../report/regression_table.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"table": "bias, resolution and pulls", "dataset": "{dataset}"},
        ),
        resolution=report(
            "results/evaluation/{dataset}/regression/resolution.png",
            caption="../report/regression_resolution.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "against A/sigma", "dataset": "{dataset}"},
        ),
        phase=report(
            "results/evaluation/{dataset}/regression/phase.png",
            caption="../report/regression_phase.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "against the phase", "dataset": "{dataset}"},
        ),
        pulls=report(
            "results/evaluation/{dataset}/regression/pulls.png",
            caption="../report/regression_pulls.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "pulls", "dataset": "{dataset}"},
        ),
        pulses=report(
            "results/evaluation/{dataset}/regression/pulses.png",
            caption="../report/regression_pulses.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "example pulses", "dataset": "{dataset}"},
        ),
        training=report(
            "results/evaluation/{dataset}/regression/training.png",
            caption="../report/regression_training.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "network training", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/evaluate_regression/{dataset}.log",
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        methods=lambda wildcards: list(regression_methods(wildcards)),
        readout=dataset_settings,
        regression=canonical(config["evaluation"]["regression"]),
    script:
        "../scripts/evaluate_regression.py"
