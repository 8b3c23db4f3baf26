rule perceptron_iris:
    """The perceptron on Iris (setosa vs versicolor): errors per epoch, decision regions."""
    input:
        paths.MLFLOW_READY,
    output:
        errors=report(
            paths.IRIS_FILES["errors"],
            caption="../report/perceptron_errors.rst",
            category="Lecture",
            subcategory="Perceptron",
            labels={"figure": "errors per epoch"},
        ),
        regions=report(
            paths.IRIS_FILES["regions"],
            caption="../report/perceptron_regions.rst",
            category="Lecture",
            subcategory="Perceptron",
            labels={"figure": "decision regions"},
        ),
        result=paths.IRIS_FILES["result"],
    log:
        "results/logs/perceptron_iris.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=canonical(config["lecture"]["perceptron_iris"]),
        seed=config["seed"],
    script:
        "../scripts/perceptron_iris.py"


rule loss_functions:
    """The 0-1 loss and its upper bounds (MSE, BCE, hinge) against the margin."""
    output:
        report(
            paths.LOSS_FUNCTIONS,
            caption="../report/loss_functions.rst",
            category="Lecture",
            subcategory="Loss functions",
            labels={"figure": "losses vs margin"},
        ),
    log:
        "results/logs/loss_functions.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/loss_functions.py"


rule gd_comparison:
    """Gradient descent on the MSE against the BCE: loss per epoch per feature set."""
    input:
        lambda wildcards: LECTURE.gd_records(wildcards.dataset),
    output:
        report(
            paths.GD_COMPARISON,
            caption="../report/gd_comparison.rst",
            category="Lecture",
            subcategory="Loss functions",
            labels={"figure": "MSE vs BCE training"},
        ),
    log:
        "results/logs/gd_comparison/{dataset}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/gd_comparison.py"
