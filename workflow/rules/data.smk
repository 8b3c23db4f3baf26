rule generate_dimuon:
    """Generate the toy dimuon events (exact densities) into a ROOT TTree `events`."""
    output:
        events="results/data/dimuon/events.root",
        record="results/data/dimuon/generation.json",
    log:
        "results/logs/generate_dimuon.log",
    benchmark:
        "results/benchmarks/generate_dimuon.tsv"
    conda:
        "../../envs/mlhep.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=lambda wildcards: config["datasets"]["dimuon"],
        seed=config["seed"],
    script:
        "../scripts/generate_dimuon.py"
