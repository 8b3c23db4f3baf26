rule generate:
    """Produce a dataset's events with its kind's plug-in (the toy dimuon generator, the
    pulse generator, the user's ntuples read and selected) into a ROOT TTree `events`."""
    input:
        dataset_inputs,
    output:
        events="results/data/{dataset}/events.root",
        record="results/data/{dataset}/generation.json",
    log:
        "results/logs/generate/{dataset}.log",
    benchmark:
        "results/benchmarks/generate/{dataset}.tsv"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=dataset_settings,
        seed=dataset_seed,
    script:
        "../scripts/generate.py"
