"""Rule tune_best: the search's best trial (on validation) retrained on the train split
through the one training path, an MLflow child run of the study's."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io
from mlhep.models import MODELS
from mlhep.models.base import FitContext, resolve_device
from mlhep.models.training import TrainingJob, train
from mlhep.runlog import script_log
from mlhep.studies import tuning
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    search = tuning.Search.from_params(p.search)
    record = io.read_json(snakemake.input.study)
    study = tuning.load_study(search, tuning.open_storage(search, record["journal"]))
    best = tuning.best_trial(study)
    settings = search.trial_settings(best.params)
    log.info("best trial %d: %s = %.5f, %s", best.number, search.objective, best.value, best.params)
    job = TrainingJob(
        model=w.model,
        dataset=w.dataset,
        features=w.features,
        columns=search.columns,
        settings=settings,
        context=FitContext(
            search.seed, resolve_device(p.device, MODELS[w.model].gpu), snakemake.threads
        ),
        model_dir=snakemake.output.model,
        predictions=snakemake.output.predictions,
        record=snakemake.output.record,
    )
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        w.dataset,
        snakemake.rule,
        "workflow/scripts/tune_best.py",
        dict(p.items()),
    )
    tags = {
        "mlflow.parentRunId": record["mlflow_run_id"],
        "optuna.study": search.name,
        "optuna.best_trial": str(best.number),
        "tuned": "true",
    }
    train(
        job,
        {s: snakemake.input[s] for s in ("train", "validation", "test")},
        spec,
        tags,
        run_name=f"{w.model}-{w.features} tuned",
    )
