"""Rule train_ann: a PyTorch MLP on one feature set, early stopping on validation loss;
scores of every split; an MLflow run with per-epoch curves and the model (pytorch
flavour, standardisation included)."""

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models import infer_signature

from mlhep import io

from mlhep.models import ann

from mlhep.models import sklearn as models
from mlhep.tracking.models import LIBRARY_DIR
from mlhep.runlog import script_log
from mlhep.tracking import log_curves, start_run

with script_log(snakemake.log[0]) as log:
    features, columns = snakemake.wildcards.features, snakemake.params.columns
    settings = snakemake.params.settings
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    device = ann.resolve_device(snakemake.config["device"])
    net, info = ann.train(splits["train"], splits["validation"], columns, settings, device,
                          snakemake.threads, snakemake.config["seed"])  # fmt: skip
    log.info("ANN %s: best epoch %d of %d, %.0f events/s", features, info["best_epoch"],
             info["epochs_run"], info["events_per_second"])  # fmt: skip
    scores = {
        s: ann.TorchClassifier(net, columns).decision_function(f[columns])
        for s, f in splits.items()
    }
    predictions = pd.concat(
        [models.prediction_frame(f, s, scores[s]) for s, f in splits.items()], ignore_index=True
    )
    net = net.cpu()
    with start_run(snakemake.config, snakemake.wildcards.dataset, snakemake.rule, f"ann-{features}",
                   snakemake.scriptdir, tags={"model": "ann", "features": features}) as run:  # fmt: skip
        mlflow.log_params({**models.hyperparameters(settings), "model": "ann", "features": features,
                           "device": str(device), "n_train": len(splits["train"])})  # fmt: skip
        mlflow.log_metrics(
            {k: info[k] for k in ("best_epoch", "epochs_run", "train_seconds", "events_per_second")}
        )
        log_curves({"train_loss": info["history"]["train"], "validation_loss": info["history"]["validation"],
                    "train_auc": info["auc_history"]["train"],
                    "validation_auc": info["auc_history"]["validation"]})  # fmt: skip
        example = splits["train"][columns].head(5).to_numpy(np.float32, copy=True)
        with torch.no_grad():
            output = net(torch.as_tensor(example)).numpy()
        model_info = mlflow.pytorch.log_model(
            net, name="model", input_example=example, signature=infer_signature(example, output),
            code_paths=[str(LIBRARY_DIR)], pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )  # fmt: skip
    with io.atomic_path(snakemake.output.model) as tmp:
        torch.save(net.state_dict(), tmp)
    io.write_parquet(snakemake.output.predictions, predictions)
    io.write_json(snakemake.output.record, {"model": "ann", "features": features, "columns": columns,
                  "loss": "bce", "mlflow_run_id": run.info.run_id, "model_uri": model_info.model_uri,
                  "settings": settings, **info})  # fmt: skip
