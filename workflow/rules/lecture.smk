rule perceptron_iris:
    """The perceptron on Iris (setosa vs versicolor): errors per epoch, decision regions."""
    input:
        MLFLOW_READY,
    output:
        errors=report(
            "results/lecture/perceptron_iris/errors.png",
            caption="../report/perceptron_errors.rst",
            category="Lecture",
            subcategory="Perceptron",
            labels={"figure": "errors per epoch"},
        ),
        regions=report(
            "results/lecture/perceptron_iris/regions.png",
            caption="../report/perceptron_regions.rst",
            category="Lecture",
            subcategory="Perceptron",
            labels={"figure": "decision regions"},
        ),
        result="results/lecture/perceptron_iris/result.json",
    log:
        "results/logs/perceptron_iris.log",
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
            "results/lecture/loss_functions.png",
            caption="../report/loss_functions.rst",
            category="Lecture",
            subcategory="Loss functions",
            labels={"figure": "losses vs margin"},
        ),
    log:
        "results/logs/loss_functions.log",
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/loss_functions.py"


rule gd_comparison:
    """Gradient descent on the MSE against the BCE: loss per epoch per feature set."""
    input:
        lambda wildcards: PLAN.gd_records(wildcards.dataset),
    output:
        report(
            "results/evaluation/{dataset}/gd_mse_vs_bce.png",
            caption="../report/gd_comparison.rst",
            category="Lecture",
            subcategory="Loss functions",
            labels={"figure": "MSE vs BCE training"},
        ),
    log:
        "results/logs/gd_comparison/{dataset}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/gd_comparison.py"
