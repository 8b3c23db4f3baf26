"""Rule generator_fidelity: one generator judged against held-out real events."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io
from mlhep.generative.jobs import judge_generator
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    splits = {s: snakemake.input[s] for s in ("train", "validation", "test")}
    record = io.read_json(snakemake.input.record)
    judge_generator(
        w.generator,
        snakemake.input.generator,
        splits,
        p.settings,
        p.settings["tstr_models"],
        p.settings["tstr_columns"],
        seed=p.seed,
        threads=snakemake.threads,
        device=resolve_device(p.device, gpu_capable=True),
        outputs=dict(snakemake.output.items()),
        run_id=record["mlflow_run_id"],
        experiments=snakemake.input.experiments,
    )
