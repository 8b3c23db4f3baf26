"""The analysis report: helper functions, rendering through a real Jupyter kernel with
papermill and nbconvert, the workflow's report on the tiny and minimal configs, Snakemake's
own report, and the page as headless Chromium draws it."""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from helpers import require, snakemake
from PIL import Image

from mlhep import report
from mlhep.config import load_config
from mlhep.plan import Plan, manifest_files


class Page(HTMLParser):
    """The parts of a report page the tests look at: headings, images, off-lines, links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.images: list[str] = []
        self.off: list[str] = []
        self.external: list[str] = []
        self._heading: list[str] | None = None
        self._off = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("h1", "h2"):
            self._heading = []
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        if tag == "p" and attributes.get("class") == report.OFF_CLASS:
            self._off = True
            self.off.append("")
        for key in ("src", "href"):
            value = attributes.get(key) or ""
            if value.startswith(("http:", "https:", "//")):
                self.external.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2") and self._heading is not None:
            self.headings.append("".join(self._heading).replace("¶", "").strip())
            self._heading = None
        if tag == "p":
            self._off = False

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)
        if self._off:
            self.off[-1] += data


def decode_png(src: str) -> Image.Image:
    """The image of a ``data:image/png;base64`` URI, fully decoded."""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
    image.load()
    return image


def default_config(repo: Path) -> dict:
    return load_config(repo / "config" / "config.yaml")


# --- helpers -------------------------------------------------------------------------


def test_stage_status_names_the_switch(repo: Path) -> None:
    config = default_config(repo)
    status = Plan(config).status()
    # every section shows something by default but the searches, which are off
    assert "studies.tuning.activate" in status.pop("tuning")
    assert status == dict.fromkeys(s for s in report.SECTIONS if s != "tuning")
    config["studies"]["tuning"]["activate"] = True
    assert Plan(config).status()["tuning"] is None
    off = copy.deepcopy(config)
    off["lecture"]["perceptron_iris"]["activate"] = False
    status = Plan(off).status()
    assert "lecture.perceptron_iris.activate" in status["perceptron"]
    assert status["classifiers"] is None and status["data"] is None
    for name in off["models"]:
        off["models"][name]["activate"] = False
    status = Plan(off).status()
    assert "models.<name>.activate" in status["classifiers"]
    assert "models.<name>.activate" in status["regression"]
    assert "training curves" in status["details"] and "studies.shap.activate" in status["details"]


def test_manifest_names_every_configured_feature_set(repo: Path) -> None:
    config = load_config(repo / "config" / "test-tiny.yaml")
    manifest = Plan(config).manifest()
    entry = manifest["datasets"]["dimuon"]
    assert entry["trained_sets"] == ["low", "high", "all", "mass"]
    assert set(entry["roc"]) == {"low", "high", "all", "mass"}
    grid = report.figure_grid(entry["trained"], "scores", entry["trained_sets"])
    assert grid["bdt"].keys() == {"low", "high", "all", "mass"}
    assert set(entry["studies"]["shap"]) == {"low", "high", "all", "mass"}
    files = manifest_files(manifest)
    assert len(files) == len(set(files)) and all(f.startswith("results/") for f in files)


def test_switched_off_line_escapes_and_marks_code() -> None:
    line = report.switched_off("off (`a.b`) <x>")
    assert f'class="{report.OFF_CLASS}"' in line
    assert "<code>a.b</code>" in line and "&lt;x&gt;" in line


def test_image_tag_embeds_the_png(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    Image.new("RGB", (7, 5), (255, 0, 0)).save(path)
    page = Page(report.image_tag(path, alt="red"))
    assert decode_png(page.images[0]).size == (7, 5)
    grid = Page(report.image_grid({"ann": {"low": str(path)}}, ["low", "high"]))
    assert len(grid.images) == 1


def test_classifier_table_orders_by_feature_set_then_auc() -> None:
    summary = pd.DataFrame(
        {
            "dataset": ["d"] * 5,
            "model": ["logistic", "bayes_optimal", "ann", "bayes_optimal", "ann"],
            "features": ["low", "low", "low", "high", "high"],
            "auc": [0.7, 0.9, 0.89, 0.88, 0.87],
            "gap_to_bayes": [0.2, 0.0, 0.01, 0.0, 0.01],
        }
    )
    table = report.classifier_table(summary, ["low", "high"])
    assert list(table["model"]) == [
        "Bayes limit (exact)",
        "ann",
        "logistic",
        "Bayes limit (exact)",
        "ann",
    ]
    assert list(table["features"]) == ["low", "low", "low", "high", "high"]
    assert "gap to limit" in table.columns


def test_package_versions_lists_the_stack() -> None:
    versions = report.package_versions(["numpy", "no-such-package-xyz"]).set_index("package")
    assert versions.loc["numpy", "version"] == np.__version__
    assert versions.loc["no-such-package-xyz", "version"] == "not installed"


def test_render_runs_a_kernel_hides_code_and_keeps_home_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("value = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## A heading"),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\n"
            "from IPython.display import HTML, display\n"
            "from mlhep import report\n"
            "display(HTML(f'<p id=\"answer\">value={value * 2}</p>'))\n"
            "plt.plot([1, 2])\nplt.show()"
        ),
    ]
    source = tmp_path / "nb.ipynb"
    nbformat.write(notebook, source)
    html_path, executed = tmp_path / "out" / "page.html", tmp_path / "out" / "page.ipynb"
    report.render(html_path, {"value": 21}, executed_path=executed, notebook=source, cwd=tmp_path)
    text = html_path.read_text()
    page = Page(text)
    assert "value=42" in text and "A heading" in page.headings
    assert "import matplotlib" not in text  # code hidden
    assert not page.external and "<script src" not in text  # self-contained
    assert [decode_png(src).size[0] > 100 for src in page.images] == [True]
    assert nbformat.read(executed, as_version=4).metadata.papermill.parameters == {"value": 21}
    assert list(home.iterdir()) == []  # no ~/.jupyter, ~/.ipython, ~/.cache/matplotlib
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["page.html", "page.ipynb"]


def test_render_failure_leaves_no_report(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("raise RuntimeError('broken result file')")]
    source = tmp_path / "nb.ipynb"
    nbformat.write(notebook, source)
    with pytest.raises(Exception, match="broken result file"):
        report.render(tmp_path / "page.html", {}, notebook=source, cwd=tmp_path)
    assert not (tmp_path / "page.html").exists()


# --- the workflow's report -----------------------------------------------------------


@pytest.mark.workflow
def test_tiny_report_holds_every_section_and_every_image_decodes(repo: Path, tiny: Path) -> None:
    text = (tiny / "results/report/report.html").read_text()
    page = Page(text)
    for heading in report.SECTIONS.values():
        assert heading in page.headings, heading
    assert page.off == [], "every stage is on in the tiny config"
    assert not page.external, page.external
    assert "<script src" not in text
    images = [decode_png(src) for src in page.images]
    # what the config asks for: features, Iris (2), losses, GD, a ROC per trained feature
    # set, scores per (model, set), training curves per model with steps, each study figure
    plan = Plan(load_config(repo / "config/test-tiny.yaml"))
    manifest = plan.manifest()
    assert set(manifest["datasets"]) == {"dimuon", "cms_dimuon", "dimuon_gan"}
    expected = 2 + 1  # Iris, losses
    for entry in manifest["datasets"].values():  # features, GD, ROCs, calibration, scores ...
        studies = sum(len(files) for files in entry["studies"].values())
        expected += 1 + bool(entry["gd"]) + len(entry["roc"]) + len(entry["calibration"])
        expected += len(entry["trained"]) + len(entry["training"]) + studies
    generalization = len(manifest["generalization"]["studies"])
    assert generalization == len(plan.stage("generalization").studies()) == 11  # one figure each
    # eight figures per pulse dataset: resolution, phase, phase bias, pulls, coverage,
    # pile-up threshold, pulses, training
    regression = 8 * len(manifest["regression"])
    z_peak = 2  # the fit with its pulls, the goodness of fit
    generative = 2 + 2 * len(
        manifest["generative"]["generators"]
    )  # mass, ROC; each: features, history
    assert len(manifest["generative"]["generators"]) == 4
    tuning = 2 * len(manifest["tuning"]["searches"])  # trials to reach, importances
    assert len(manifest["tuning"]["searches"]) == 2
    assert len(images) == expected + generalization + regression + z_peak + generative + tuning
    entry = manifest["datasets"]["dimuon"]
    assert len(entry["roc"]) == 4 and len(entry["trained"]) == len(plan.trained("dimuon"))
    fit = json.loads((tiny / manifest["z_peak"]["fit"]).read_text())
    assert fit["valid"] and abs(fit["values"]["mass"] - fit["pdg"]["mass"][0]) < 1.0
    assert f"{fit['values']['mass']:.4f}" in text
    assert all(min(image.size) > 100 for image in images)
    summary = pd.read_csv(tiny / "results/evaluation/summary.csv")
    dimuon = summary[summary.dataset == "dimuon"]
    ann_all = dimuon[(dimuon.model == "ann") & (dimuon.features == "all")].auc.item()
    assert f"{ann_all:.4f}" in text
    for record in (tiny / "results/models").rglob("train.json"):
        assert json.loads(record.read_text())["mlflow_run_id"] in text
    executed = nbformat.read(tiny / "results/report/report.ipynb", as_version=4)
    assert executed.metadata.kernelspec.name == report.KERNEL_NAME


@pytest.mark.workflow
def test_minimal_report_says_which_stages_are_off(minimal: Path) -> None:
    page = Page((minimal / "results/report/report.html").read_text())
    for heading in report.SECTIONS.values():
        assert heading in page.headings
    assert len(page.off) == 10, page.off
    joined = " ".join(page.off)
    for key in (
        "lecture.perceptron_iris.activate",
        "lecture.loss_functions.activate",
        "models.<name>.activate",
        "training curves",
        "studies.shap.activate",
        "studies.bdt_bootstrap.activate",
        "studies.generalization.activate",
        "datasets.<name>.kind: pulse",
        "studies.z_peak.activate",
        "generative.activate",
        "studies.tuning.activate",
    ):
        assert key in joined
    assert [decode_png(src).size[0] > 100 for src in page.images] == [True]  # features


@pytest.mark.workflow
def test_snakemake_report_groups_by_stage_model_and_features(
    repo: Path, tiny: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "report.zip"
    proc = snakemake(
        repo, tiny, "--report", str(archive), "--configfile", str(repo / "config/test-tiny.yaml")
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        index = f"{archive.stem}/report.html"  # Snakemake's page; ours is under data/
        html = zf.read(index).decode()
    rules = " ".join(p.read_text() for p in (repo / "workflow/rules").glob("*.smk"))
    categories = set(re.findall(r'category="(\w+)"', rules))
    assert {"Data", "Lecture", "Classifiers", "Interpretability", "Report"} <= categories
    for category in categories:
        assert f'"{category}"' in html, category  # in the report's index data
    pngs = [n for n in names if n.endswith(".png")]
    # every figure rule output is in it: the per-model score plots among them
    plan = Plan(load_config(repo / "config/test-tiny.yaml"))
    trained = [t for d in plan.classification_datasets for t in plan.trained(d)]
    searches = plan.stage("tuning").searches()  # each tuned model's too
    assert len([n for n in pngs if n.endswith("scores.png")]) == len(trained) + len(searches)
    assert sum(n.endswith("progress.png") for n in pngs) == len(searches) == 2
    assert {"fit.png", "gof.png"} <= {n.rsplit("/", 1)[-1] for n in pngs}  # the Z peak
    assert any(n.endswith("distributions.png") for n in pngs)
    studies = Plan(load_config(repo / "config/test-tiny.yaml")).stage("generalization").studies()
    assert {n.rsplit("/", 1)[-1] for n in pngs} >= {f"{s}.png" for s in studies}
    # and the analysis report itself, as one of its files
    assert any(n.endswith("/report.html") for n in names if n != index)


@pytest.mark.workflow
def test_report_page_draws_in_headless_chromium(tiny: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    require(chromium is not None, "needs Debian's chromium: apt-get install chromium")
    shot = tmp_path / "page.png"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--hide-scrollbars",
        "--window-size=1280,4000",
        f"--screenshot={shot}",
        (tiny / "results/report/report.html").as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert rgb.shape == (4000, 1280, 3)
    dark = (rgb.mean(axis=2) < 200).mean()  # text, tables, axes and curves
    colour = (rgb.max(axis=2) - rgb.min(axis=2) > 80).mean()  # only the figures have colour
    # Drawn, with its figures. Measured on the tiny report's first 4000 px: dark 0.068,
    # colour 0.014; the same page with its 99 images broken: dark 0.062 (the text alone
    # passes the darkness test) but colour 0.0005; a blank page: 0 and 0.
    assert dark > 0.03, dark
    assert colour > 0.005, colour


def test_generative_table_and_caption_say_what_each_generator_is() -> None:
    table = pd.DataFrame(
        {
            "metric": ["FWHM m_mumu signal [GeV]", "FPD"],
            "floor": [7.34, 0.0003],
            "floor_std": [0.04, 0.0007],
            "gan_physics": [8.2, 0.15],
            "wgan_gp_blind": [np.inf, 1.2],
        }
    )
    shown = report.generative_table(table)
    assert (
        shown.loc[0, "wgan_gp_blind"] == "no peak (≥ window)"
        and shown.loc[0, "gan_physics"] == "8.2"
    )
    assert shown.loc[0, "two real samples (floor)"] == "7.34 ± 0.04"
    records = {
        "gan_physics": {
            "settings": {
                "objective": "gan",
                "critic": "physics",
                "representation": "muons",
                "reflect": True,
                "mmd_weight": 1.0,
                "ema_decay": 0.995,
                "steps": 4000,
            },
            "train_seconds": 130.0,
            "device": "cpu",
            "best_step": 4000,
        },
        "flow": {
            "settings": {"objective": "flow", "steps": 3000},
            "train_seconds": 128.0,
            "device": "cpu",
            "best_step": 3000,
        },
    }
    caption = report.generative_caption(table, records)
    assert "gan, physics critic, phi mirrored, MMD on m x 1, EMA 0.995: 4000 steps" in caption
    assert "<code>flow</code> (flow: 3000 steps, 128 s on cpu" in caption
    assert "pair coordinates" not in caption
