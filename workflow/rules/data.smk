rule generate:
    """Produce a dataset's events with its kind's plug-in (the toy dimuon generator, the
    pulse generator, the user's ntuples read and selected) into a ROOT TTree `events`."""
    input:
        lambda wildcards: DATA.inputs(wildcards.dataset),
    output:
        events=paths.EVENTS,
        record=paths.GENERATION,
    log:
        "results/logs/generate/{dataset}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=lambda wildcards: DATA.producer_settings(wildcards.dataset),
        seed=lambda wildcards: DATA.seed(wildcards.dataset),
    script:
        "../scripts/generate.py"
