"""Rule generative_floor: the fidelity metrics of two independent real samples."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep.generative.jobs import noise_floor
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    splits = {s: snakemake.input[s] for s in ("train", "validation", "test")}
    noise_floor(
        splits,
        p.settings,
        p.settings["tstr_models"],
        p.settings["tstr_columns"],
        seed=p.seed,
        threads=snakemake.threads,
        device=resolve_device(p.device, gpu_capable=True),
        output=snakemake.output[0],
    )
