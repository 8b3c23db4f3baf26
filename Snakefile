"""mlhep: a reproducible machine-learning analysis for high-energy physics.

Run `snakemake --cores N`; see README.md and config/README.md.
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/bayes.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/regression.smk"
include: "workflow/rules/lecture.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/generalization.smk"
include: "workflow/rules/generative.smk"
include: "workflow/rules/tuning.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        PLAN.outputs(),


onstart:
    close_orphaned_runs()
    start_warm_worker()


onsuccess:
    stop_warm_worker()


onerror:
    stop_warm_worker()
    close_unfinished_runs()
