"""Rule tune_worker: one worker of a search, trials until the shared study holds enough,
each an MLflow child run of the study's."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io
from mlhep.models import MODELS
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log
from mlhep.studies import tuning
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    search = tuning.Search.from_params(p.search)
    record = io.read_json(snakemake.input.study)
    storage = tuning.open_storage(search, record["journal"])
    worker = int(w.worker)
    study = tuning.load_study(search, storage, worker)
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation")}
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        w.dataset,
        snakemake.rule,
        "workflow/scripts/tune_worker.py",
        dict(p.items()),
    )
    result = tuning.run_worker(
        search,
        study,
        worker,
        splits,
        p.trials,
        device=resolve_device(p.device, MODELS[w.model].gpu),
        threads=snakemake.threads,
        log_trial=tuning.trial_logger(spec, record["mlflow_run_id"]),
    )
    log.info("worker %d: %d trial(s) in %.0f s", worker, len(result["trials"]), result["seconds"])
    io.write_json(snakemake.output[0], result)
