rule train:
    """Train one model on one feature set through the one training path (mlhep.models.
    training): fit with the validation split for early stopping, score every split, an MLflow
    run in the model's flavour, the model, predictions and a uniform record."""
    input:
        unpack(split_files),
        experiments=paths.MLFLOW_READY,
    output:
        model=directory(paths.MODEL),
        predictions=paths.PREDICTIONS,
        record=paths.RECORD,
    log:
        "results/logs/train/{dataset}/{model}/{features}.log",
    wildcard_constraints:
        model="|".join(CPU_MODELS),
    conda:
        CONDA_ENV
    threads: model_threads
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        columns=columns_of,
        settings=model_settings,
        device=device_of,
        physics=regressor_physics,
        seed=config["seed"],
    script:
        "../scripts/train.py"


# The same rule for the models that can use a GPU, apart only so that a cluster profile
# can give these jobs a GPU (set-resources: train_gpu: gpu: 1).
use rule train as train_gpu with:
    log:
        "results/logs/train_gpu/{dataset}/{model}/{features}.log",
    wildcard_constraints:
        model="|".join(GPU_MODELS),
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
