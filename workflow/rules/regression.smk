rule evaluate_regression:
    """Every pulse regressor of a dataset against the Cramer-Rao bound: bias, resolution
    and pulls of amplitude and arrival time against A/sigma, the phase and pile-up; the
    table, the figures, and the metrics logged into each regressor's MLflow run."""
    input:
        unpack(lambda wildcards: REGRESSION.predictions(wildcards.dataset)),
        records=lambda wildcards: REGRESSION.records(wildcards.dataset),
        test=split_file("test"),
        experiments=paths.MLFLOW_READY,
    output:
        summary=paths.REGRESSION_FILES["summary"],
        table=report(
            paths.REGRESSION_FILES["table"],
            caption="../report/regression_table.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"table": "bias, resolution and pulls", "dataset": "{dataset}"},
        ),
        resolution=report(
            paths.REGRESSION_FILES["resolution"],
            caption="../report/regression_resolution.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "against A/sigma", "dataset": "{dataset}"},
        ),
        phase=report(
            paths.REGRESSION_FILES["phase"],
            caption="../report/regression_phase.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "against the phase", "dataset": "{dataset}"},
        ),
        pulls=report(
            paths.REGRESSION_FILES["pulls"],
            caption="../report/regression_pulls.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "pulls", "dataset": "{dataset}"},
        ),
        coverage=report(
            paths.REGRESSION_FILES["coverage"],
            caption="../report/regression_coverage.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "interval coverage", "dataset": "{dataset}"},
        ),
        phase_bias=report(
            paths.REGRESSION_FILES["phase_bias"],
            caption="../report/regression_phase_bias.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "bias against the phase, low A/sigma", "dataset": "{dataset}"},
        ),
        phase_bias_table=paths.REGRESSION_FILES["phase_bias_table"],
        pileup_threshold=report(
            paths.REGRESSION_FILES["pileup_threshold"],
            caption="../report/regression_pileup_threshold.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "pile-up threshold", "dataset": "{dataset}"},
        ),
        pulses=report(
            paths.REGRESSION_FILES["pulses"],
            caption="../report/regression_pulses.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "example pulses", "dataset": "{dataset}"},
        ),
        training=report(
            paths.REGRESSION_FILES["training"],
            caption="../report/regression_training.rst",
            category="Pulse regression",
            subcategory="{dataset}",
            labels={"figure": "network training", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/evaluate_regression/{dataset}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        methods=lambda wildcards: list(REGRESSION.methods(wildcards.dataset)),
        readout=lambda wildcards: DATA.producer_settings(wildcards.dataset),
        regression=REGRESSION.settings(),
    script:
        "../scripts/evaluate_regression.py"
