"""The code's structure, checked: every result path written once (mlhep.paths), the stages
as a registry that covers the report, no import arrow running up the layers, no hand-packed
formatting, no dispatch on a plug-in's name."""

from __future__ import annotations

import ast
import copy
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from mlhep import paths
from mlhep.config import load_config
from mlhep.plan import Plan
from mlhep.stages import SECTIONS, STAGES, Stage, stage_class

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "workflow"
LIBRARY = WORKFLOW / "mlhep"
#: A string literal naming something under results/ (plain, f-string or template).
RESULT_LITERAL = re.compile(r"""(?:^|[^\w/])[fFrR]?["'](results/[^"'\s]*)["']""")


def _sources() -> list[Path]:
    """Every file of the workflow that can name a path: library, scripts, rules, notebook."""
    files = [*WORKFLOW.rglob("*.py"), *WORKFLOW.rglob("*.smk"), *WORKFLOW.rglob("*.ipynb")]
    return [f for f in files if ".egg-info" not in str(f)] + [REPO / "Snakefile"]


def _result_literals() -> dict[str, list[str]]:
    """Each ``results/...`` literal in the workflow -> the places (file:line) it is written."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in _sources():
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        for number, line in enumerate(text.splitlines(), 1):
            for literal in RESULT_LITERAL.findall(line):
                found[literal].append(f"{path.relative_to(REPO)}:{number}")
    return found


def test_every_result_template_is_written_once() -> None:
    """A result path is a constant of mlhep.paths; a rule's log, beside it."""
    found = _result_literals()
    assert found, "the scan found no results/ literal at all: the pattern is broken"
    repeated = {k: v for k, v in found.items() if len(v) > 1}
    assert not repeated, f"templates written more than once: {repeated}"
    beside_rules = ("results/logs/",)
    outside = {
        k: v
        for k, v in found.items()
        if not k.startswith(beside_rules) and not all("mlhep/paths.py" in p for p in v)
    }
    assert not outside, f"result paths written outside mlhep/paths.py: {outside}"


def test_the_path_scan_sees_a_repeated_template(tmp_path: Path) -> None:
    """The scan itself: two files naming one template are reported (a test that can fail)."""
    line = 'x = "results/evaluation/{dataset}/x.json"\n'
    assert RESULT_LITERAL.findall(line) == ["results/evaluation/{dataset}/x.json"]
    assert RESULT_LITERAL.findall("f'results/{d}/y.png'") == ["results/{d}/y.png"]
    assert RESULT_LITERAL.findall('"not/results/z"') == []


def test_fill_leaves_unnamed_wildcards() -> None:
    assert paths.fill(paths.SPLIT, split="train") == "results/splits/{dataset}/train.parquet"
    assert paths.fill(paths.SPLIT, dataset="d", split="test") == "results/splits/d/test.parquet"
    assert paths.fill_all(paths.GENERATOR_FILES, generator="g")["record"] == (
        "results/generative/g/train.json"
    )


def test_stages_cover_every_report_section_once_each() -> None:
    claimed: dict[str, list[str]] = defaultdict(list)
    for name in STAGES:
        cls = stage_class(name)
        assert issubclass(cls, Stage) and cls.name == name
        for section in cls.sections:
            claimed[section].append(name)
    assert set(claimed) == set(SECTIONS), "a report section that no stage fills"
    with pytest.raises(KeyError, match="known"):
        stage_class("no-such-stage")


def test_each_stage_is_asked_for_its_errors_status_and_manifest() -> None:
    config = load_config(REPO / "config" / "config.yaml")
    plan = Plan(config)
    for stage in plan.stages.values():
        assert stage.errors() == [], stage.name
        assert set(stage.status()) == set(type(stage).sections), stage.name
    status = plan.status()
    assert status.pop("tuning")  # the searches are off by default; the rest all show
    assert status == dict.fromkeys(s for s in SECTIONS if s != "tuning")
    off = copy.deepcopy(config)
    off["studies"]["z_peak"]["window"] = [120.0, 60.0]
    assert plan.stage("z_peak").errors() == []
    assert "studies.z_peak.window" in Plan(off).stage("z_peak").errors()[0]


#: Layers from the bottom: a module may import its own layer and those below it, never
#: a later one (at module level; imports inside functions and under TYPE_CHECKING are
#: how a plug-in is reached lazily).
LAYERS = [
    {"io", "runlog", "paths", "plotting", "features"},
    {"data"},
    {"evaluation"},
    {"models"},
    {"generative", "studies", "tracking", "lecture"},
    {"core"},
    {"stages"},
    {"plan", "config", "report", "browse"},
]


def _layer(module: str) -> int:
    """The layer of a top-level package or module of mlhep."""
    top = module.split(".")[0]
    for number, layer in enumerate(LAYERS):
        if top in layer:
            return number
    raise AssertionError(f"mlhep.{top} is in no layer of this test: add it")


def _top_level_imports(path: Path) -> list[str]:
    """The mlhep modules a file imports when it is imported (not in functions)."""
    tree = ast.parse(path.read_text())
    names = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlhep"):
            if node.module == "mlhep":
                names += [alias.name for alias in node.names]
            else:
                names.append(node.module.removeprefix("mlhep."))
        elif isinstance(node, ast.Import):
            names += [
                a.name.removeprefix("mlhep.") for a in node.names if a.name.startswith("mlhep.")
            ]
    return names


def test_no_import_arrow_runs_up_the_layers() -> None:
    upward = []
    for path in LIBRARY.rglob("*.py"):
        module = path.relative_to(LIBRARY).with_suffix("").as_posix().replace("/", ".")
        if module == "__init__":
            continue
        for imported in _top_level_imports(path):
            if _layer(imported) > _layer(module):
                upward.append(f"mlhep.{module} imports mlhep.{imported}")
    assert not upward, upward


def test_no_hand_packed_formatting() -> None:
    skipped = [
        f"{p.relative_to(REPO)}:{n}"
        for p in [
            *REPO.glob("workflow/**/*.py"),
            *REPO.glob("tests/*.py"),
            *REPO.glob("benchmarks/*.py"),
        ]
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if "fmt: " + "skip" in line
    ]
    assert not skipped, skipped


def test_stages_ask_plug_ins_instead_of_naming_them() -> None:
    """No stage, plan or config compares a dataset kind's name to a string."""
    pattern = re.compile(r"""(kind\(\w+\)\.name|\["kind"\]|\.kind)\s*[!=]=\s*["']""")
    files = [*(LIBRARY / "stages").glob("*.py"), LIBRARY / "plan.py", LIBRARY / "config.py"]
    named = [
        f"{p.relative_to(REPO)}:{n}"
        for p in files
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not named, named


def test_parsing_the_workflow_imports_no_heavy_library() -> None:
    """What every `snakemake` call runs at parse (the config, the plan with every stage,
    the tracking id) imports none of the libraries that cost a second each, nor SciPy
    (0.5 s) or uproot (0.2 s): each SLURM job parses the workflow twice."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mlhep.config import load_config\n"
        "from mlhep.plan import Plan\n"
        "import mlhep.tracking\n"
        f"plan = Plan(load_config({str(REPO / 'config' / 'config.yaml')!r}))\n"
        "plan.outputs()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    assert "mlhep" in loaded  # the probe ran
    heavy = {
        *("torch", "mlflow", "xgboost", "sklearn", "matplotlib", "mplhep", "shap"),
        *("scipy", "uproot"),
    }
    assert not loaded & heavy, sorted(loaded & heavy)


def test_a_cheap_job_imports_only_what_its_work_needs() -> None:
    """The cheapest job (a chunk of polynomial-degree points) computes its points with NumPy
    alone: its script's imports and the point itself load no scikit-learn, numba, uproot,
    PyTorch, XGBoost or matplotlib (MLflow, for its runs, is imported when it logs)."""
    import subprocess
    import sys

    script = (REPO / "workflow/scripts/generalization_chunk.py").read_text()
    lines = script.splitlines()
    imports = "\n".join(line for line in lines if line.startswith(("import ", "from ")))
    code = (
        f"{imports}\n"
        "import sys\n"
        "from mlhep.studies.generalization import run_point\n"
        "settings = {'pulse': {'n_train': 40, 'n_validation': 20, 'n_test': 20, 'amplitude': 1.0,"
        " 't0': 10.0, 'peaking_time': 25.0, 'order': 2, 'noise': 0.05, 'window': [0.0, 150.0]},"
        " 'folds': 3}\n"
        "run_point('polynomial_degree', settings, {'degree': 3}, None, FitContext(1))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    assert "mlhep" in loaded and "numpy" in loaded  # the probe ran
    heavy = {"sklearn", "numba", "uproot", "awkward", "torch", "xgboost", "matplotlib", "mlflow"}
    assert not loaded & heavy, sorted(loaded & heavy)


def test_stage_manifests_merge_into_each_other_but_never_overwrite() -> None:
    from mlhep.stages import merge, off_reason

    merged = merge({"datasets": {"d": {"gd": None}}}, {"datasets": {"d": {"roc": {}}}})
    assert merged == {"datasets": {"d": {"gd": None, "roc": {}}}}
    with pytest.raises(ValueError, match="'summary'"):
        merge({"summary": "a.csv"}, {"summary": "b.csv"})
    assert off_reason(["off (`a`)", None]) is None
    assert off_reason(["off (`a`)", "off (`b`)"]) == "off (`a`) and off (`b`)"
