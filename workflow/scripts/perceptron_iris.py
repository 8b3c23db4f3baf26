"""Rule perceptron_iris: the lecture's perceptron on Iris, with its plots and MLflow run."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import mlflow

from mlhep import io, plotting
from mlhep.lecture import IRIS_CLASSES, IRIS_FEATURES, iris_two_class, perceptron_iris
from mlhep.runlog import script_log
from mlhep.tracking import RunSpec, log_curves, start_run

with script_log(snakemake.log[0]) as log:
    s, seed = snakemake.params.settings, snakemake.params.seed
    model, result = perceptron_iris(s["learning_rate"], s["epochs"], s["init"], seed)
    log.info("perceptron on Iris: %s", result)
    if result["training_errors"]:
        raise RuntimeError(
            f"the perceptron did not separate Iris in {s['epochs']} epochs: {result}"
        )
    x, y = iris_two_class()
    fig, ax = plotting.new_figure()
    plotting.draw_perceptron_errors(
        ax, result["errors_per_epoch"], title=f"Perceptron on Iris, eta = {s['learning_rate']}"
    )
    plotting.save_figure(fig, snakemake.output.errors)
    fig, ax = plotting.new_figure()
    plotting.draw_decision_regions(ax, model, x, y, IRIS_CLASSES, IRIS_FEATURES)
    plotting.save_figure(fig, snakemake.output.regions)
    spec = RunSpec.for_job(
        snakemake.input[0],
        "iris",
        snakemake.rule,
        "workflow/scripts/perceptron_iris.py",
        dict(snakemake.params.items()),
    )
    with start_run(spec, "perceptron-iris", tags={"model": "perceptron"}) as run:
        mlflow.log_params(
            {"learning_rate": s["learning_rate"], "init": s["init"], "epochs": s["epochs"]}
        )
        log_curves({"train_errors": result["errors_per_epoch"]})
        mlflow.log_metric("epochs_to_zero_errors", result["epochs_to_zero_errors"])
        mlflow.log_artifact(snakemake.output.errors, "plots")
        mlflow.log_artifact(snakemake.output.regions, "plots")
    io.write_json(snakemake.output.result, {**result, "mlflow_run_id": run.info.run_id})
