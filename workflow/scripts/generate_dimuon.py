"""Rule generate_dimuon: the toy dimuon events as a ROOT TTree."""


from mlhep import io
from mlhep.data.dimuon.generate import generate_dimuon
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    s = snakemake.params.settings
    record = generate_dimuon(
        snakemake.output.events,
        n_signal=s["n_signal"],
        n_background=s["n_background"],
        expected_signal=s["expected_signal"],
        expected_background=s["expected_background"],
        seed=snakemake.params.seed,
    )
    log.info("generated %s", record)
    io.write_json(snakemake.output.record, record)
