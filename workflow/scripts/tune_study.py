"""Rule tune_study: a search's Optuna study, fresh, with the default settings as its first
trial, and its MLflow parent run."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io, paths
from mlhep.runlog import script_log
from mlhep.studies import tuning
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    search = tuning.Search.from_params(p.search)
    journal = paths.fill(paths.TUNING_JOURNAL, **dict(w.items()))
    storage = tuning.open_storage(search, journal)
    study = tuning.create_study(search, storage)
    log.info("study %s in %s; first trial: %s", search.name, search.storage, search.default_point())
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        w.dataset,
        snakemake.rule,
        "workflow/scripts/tune_study.py",
        dict(p.items()),
    )
    record = {
        "study": search.name,
        "storage": search.storage,
        "journal": journal if search.storage == "journal" else None,
        "direction": search.direction,
        "default_point": search.default_point(),
        "mlflow_run_id": tuning.open_parent_run(spec, search),
    }
    io.write_json(snakemake.output[0], record)
