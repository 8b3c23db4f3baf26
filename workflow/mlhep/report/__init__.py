"""The analysis report: a parameterised notebook (``workflow/notebooks/report.ipynb``) run
by papermill over the workflow's outputs and converted by nbconvert into one self-contained
HTML page with the code hidden.

The notebook only reads results; the helpers here turn them into tables, figures and the
line that says a stage is switched off. :func:`render` runs the notebook with an explicit
kernel and keeps Jupyter's and matplotlib's state out of the home directory (read-only or
shared homes on clusters break both).

References: papermill, https://papermill.readthedocs.io; nbconvert,
https://nbconvert.readthedocs.io.
"""

from __future__ import annotations

import base64
import html
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlhep.io import atomic_path, read_json
from mlhep.stages import SECTIONS as SECTIONS

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOK_DIR / "report.ipynb"
TEMPLATE = "mlhep"
KERNEL_NAME = "mlhep-python3"

#: Packages whose versions the reproducibility section lists.
PACKAGES = (
    "mlhep",
    "snakemake",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "xgboost",
    "torch",
    "mlflow",
    "uproot",
    "awkward",
    "iminuit",
    "scikit-hep-testdata",
    "matplotlib",
    "mplhep",
    "shap",
    "papermill",
    "nbconvert",
)
#: Marker of the line a switched-off stage gets (the test looks for it).
OFF_CLASS = "mlhep-off"


def switched_off(reason: str) -> str:
    """The HTML line that stands in for a switched-off stage or study."""
    return f'<p class="{OFF_CLASS}"><em>This part is {_markdown_code(reason)}.</em></p>'


def _markdown_code(text: str) -> str:
    """Escape ``text`` for HTML, turning `backticks` into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def image_tag(path: str | os.PathLike[str], width: str = "100%", alt: str = "") -> str:
    """An <img> with the PNG embedded as a data URI: the page needs no other file."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    alt = html.escape(alt or Path(path).stem)
    return f'<img src="data:image/png;base64,{data}" alt="{alt}" style="width:{width}">'


def image_grid(cells: Mapping[str, Mapping[str, str | None]], columns: Sequence[str]) -> str:
    """An HTML table of figures: one row per key of ``cells`` (its name in a narrow first
    column), one column per ``columns`` entry (``None`` or absent leaves a cell empty)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for name, row in cells.items():
        tds = "".join(
            f"<td>{image_tag(row[c], alt=f'{name} {c}') if row.get(c) else ''}</td>"
            for c in columns
        )
        rows.append(f'<tr><th class="mlhep-rowname">{html.escape(name)}</th>{tds}</tr>')
    return (
        f'<table class="mlhep-grid"><tr><th class="mlhep-rowname"></th>{head}</tr>'
        f"{''.join(rows)}</table>"
    )


def figure_grid(
    trained: Iterable[Mapping[str, str]], key: str, columns: Sequence[str]
) -> dict[str, dict[str, str]]:
    """{model: {feature set: figure}} of one figure kind (``roc``, ``scores``) of the
    manifest's trained models, models in manifest order; only the given feature sets."""
    grid: dict[str, dict[str, str]] = {}
    for entry in trained:
        if entry["features"] in columns:
            grid.setdefault(entry["model"], {})[entry["features"]] = entry[key]
    return grid


def tuning_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The searches' table (``results/tuning/tuning.csv``) as a reader sees it."""
    from mlhep.studies.tuning import display_table

    return display_table(frame)


def table_html(frame: pd.DataFrame, formats: Mapping[str, str] | None = None) -> str:
    """A compact HTML table (no index), floats formatted per column."""
    frame = frame.copy()
    for column, fmt in (formats or {}).items():
        if column in frame:
            frame[column] = [("" if pd.isna(v) else format(v, fmt)) for v in frame[column]]
    return frame.to_html(index=False, escape=True, border=0, classes="mlhep-table", na_rep="")


def ensemble_summary(record: Mapping[str, Any], what: str = "networks") -> str:
    """A few sentences on an ensemble: members, their AUCs, the ensemble's, the spread and,
    where the exact posterior is known, how well the spread covers the true error."""
    aucs = record["member_auc"]
    text = (
        f"{record['members']} {what} on the <code>{html.escape(record['feature_set'])}</code> "
        f"features: member test AUCs {min(aucs):.5f} to {max(aucs):.5f}, ensemble mean "
        f"{record['ensemble_auc']:.5f}; mean per-event spread of the signal probability "
        f"{record['mean_spread']:.4f} (median {record['median_spread']:.4f})."
    )
    if "coverage_1" not in record:
        return text
    scale = record["spread_scale_68"]
    verdict = (
        "covers the true error as the spread of an honest ensemble would"
        if 0.9 <= scale <= 1.1
        else f"would have to be {scale:.2f} times larger to cover the true error as an honest "
        "ensemble's does"
    )
    honest = ", ".join(f"{100 * record[f'coverage_honest_{k}']:.1f}%" for k in (1, 2, 3))
    return text + (
        f" Against the exact posterior: mean true error |p&#772; - p*| {record['mean_error']:.4f}; "
        f"p* lies within 1, 2, 3 spreads of the mean for {100 * record['coverage_1']:.1f}%, "
        f"{100 * record['coverage_2']:.1f}%, {100 * record['coverage_3']:.1f}% of the events "
        f"(an honest ensemble of {record['members']}, its members unbiased and independent: "
        f"{honest}): the spread {verdict}. Rank correlation of spread and error: "
        f"{record['spearman_spread_error']:.2f}."
    )


def generalization_caption(summary: Mapping[str, Any]) -> str:
    """What a generalization study found, in a sentence or two: its choice on validation
    with the test score, the limit, and the study's own findings (``notes``)."""
    parts = []
    for row in summary["selection"]:
        parts.append(
            f"Chosen on validation: <b>{html.escape(row['chosen'])}</b> (validation "
            f"{row['metric']} {row['validation']:.5g}); test {row['test']:.5g}, train "
            f"{row['train']:.5g}, gap {row['gap']:+.3g}."
        )
    if summary.get("limit_auc") is not None:
        parts.append(f"Bayes limit on the test split: AUC {summary['limit_auc']:.4f}.")
    parts += [html.escape(note) for note in summary.get("notes", [])]
    return "<p>" + " ".join(parts) + "</p>"


def regression_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """One row per pulse regressor: the RMS of its error over the Cramer-Rao bound (and the
    bias over the bound) of A and t0 at low, medium and high A/sigma, with pile-up the
    robust width over the bound of the pulses that have it, and the pull widths."""
    ranges = {k: "{:g}-{:g}".format(*summary["ranges"][k]) for k in ("low", "medium", "high")}
    rows = []
    for method in summary.get("order", summary["methods"]):
        variables = summary["methods"][method]
        row: dict[str, Any] = {"method": method}
        for variable, entry in variables.items():
            short = "A" if variable == "amplitude" else "t0"
            for part, span in ranges.items():
                if part in entry:
                    values = entry[part]
                    cell = f"{values['rms_ratio']:.2f} ({values['bias_ratio']:+.2f})"
                    over_bayes = values.get("rms_over_bayes")
                    if over_bayes is not None and np.isfinite(over_bayes):
                        cell += f" / {over_bayes:.2f}"
                    row[f"{short}, A/sigma {span}"] = cell
            if "with_pileup" in entry:
                row[f"{short}, with pile-up (robust)"] = (
                    f"{entry['with_pileup']['robust_ratio']:.2f}"
                )
            pull = entry["all"].get("pull_width")
            row[f"{short} pull width"] = "" if pull is None or pd.isna(pull) else f"{pull:.2f}"
            coverage = [entry["all"].get(f"coverage_{c}") for c in ("68", "95")]
            row[f"{short} coverage 68%, 95%"] = (
                ""
                if any(c is None or pd.isna(c) for c in coverage)
                else f"{coverage[0]:.3f}, {coverage[1]:.3f}"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def regression_caption(summary: Mapping[str, Any]) -> str:
    """The bound the table is measured against, and how to read the table."""
    bound = summary["bound"]
    pileup = summary["pileup_fraction"]
    return (
        f"<p>{summary['n_test']} test pulses"
        + (f", {100 * pileup:.0f}% with pile-up" if pileup > 0 else ", no pile-up")
        + f". The Cramer-Rao bound, averaged (RMS) over the phase: sigma_A = "
        f"{bound['amplitude_rms']:.3f} sigma, "
        f"sigma_t0 = {bound['t0_rms_times_a_over_sigma']:.1f} ns "
        "/ (A/sigma). Each cell is the RMS of the error divided by each pulse's bound (1: "
        "efficient and unbiased) and, in brackets, the bias over the bound: below 1 is possible "
        "only for a biased estimator, so read the two together."
        + (
            " After the slash: the RMS over that of the Bayes-optimal estimator (the row "
            "posterior_mean, the posterior mean under the dataset's prior), the reference at "
            "low A/sigma, where the bound is not."
            if summary.get("reference")
            else ""
        )
        + "</p>"
    )


def preformatted(text: str) -> str:
    """``text`` as an HTML <pre> block."""
    return f"<pre>{html.escape(text)}</pre>"


def data_table(generation: Mapping[str, Any], splits: Mapping[str, Any]) -> pd.DataFrame:
    """Events per split and class, with the expected yields (sum of physics weights)."""
    rows = [
        {
            "split": name,
            "events": s["n_events"],
            "signal": s["n_signal"],
            "background": s["n_background"],
            "expected signal": s["sum_weight_signal"],
            "expected background": s["sum_weight_background"],
        }
        for name, s in splits["splits"].items()
    ]
    order = {"train": 0, "validation": 1, "test": 2}
    return pd.DataFrame(sorted(rows, key=lambda r: order.get(r["split"], 3)))


def ntuple_table(generation: Mapping[str, Any]) -> pd.DataFrame:
    """What each source of a ``root`` dataset gave: files, entries read, events dropped by
    the collection rules and by the cuts, events selected and their summed weight."""
    rows = [
        {
            "source": name,
            "files": ", ".join(Path(f).name for f in s["files"]),
            "tree": s["tree"],
            "read": s["read"],
            "no collection pair": s["dropped_by_collections"],
            "failed cuts": s["failed_cuts"],
            "selected": s["selected"],
            "sum of weights": s["weight_sum"],
        }
        for name, s in generation["sources"].items()
    ]
    return pd.DataFrame(rows)


def z_peak_table(fit: Mapping[str, Any]) -> pd.DataFrame:
    """The fitted Z mass, width and resolution (HESSE errors, MINOS intervals) beside the
    PDG values and the deviation in combined standard deviations."""
    rows = []
    for name, label in (
        ("mass", "M_Z [GeV]"),
        ("width", "Gamma_Z [GeV]"),
        ("sigma", "resolution [GeV]"),
        ("f_sig", "signal fraction"),
        ("slope", "background slope [1/GeV]"),
    ):
        minos = fit.get("minos", {}).get(name)
        pdg = fit["pdg"].get(name)
        rows.append(
            {
                "parameter": label,
                "fit": fit["values"][name],
                "error": fit["errors"][name],
                "MINOS interval": f"{minos[0]:+.3f} / {minos[1]:+.3f}" if minos else "",
                "PDG": f"{pdg[0]:.4f} +- {pdg[1]:.4f}" if pdg else "",
                "(fit - PDG) / error": fit["deviation_from_pdg"].get(name) if pdg else None,
            }
        )
    return pd.DataFrame(rows)


def z_peak_caption(fit: Mapping[str, Any]) -> str:
    """One paragraph: the events fitted, the window and the goodness of fit."""
    gof = fit["goodness_of_fit"]
    p_value = "no toys" if gof["p_value"] is None else f"p = {gof['p_value']:.3f}"
    return (
        f"<p>{fit['n_events']:,} events in the window {fit['window'][0]:g} to "
        f"{fit['window'][1]:g} GeV; fit {'valid' if fit['valid'] else '<b>not valid</b>'}. "
        f"Goodness of fit: deviance {gof['deviance']:.1f} in {gof['bins']} bins, {p_value} "
        f"from {gof['toys']} refitted toys ({gof['invalid_toys']} invalid); KS statistic "
        f"of the probability integral transform {gof['ks_statistic']:.3f}.</p>"
    )


def generative_table(table: pd.DataFrame) -> pd.DataFrame:
    """The fidelity table for display: each metric, the noise floor as mean +- spread, then
    every generator's value (4 significant digits)."""
    generators = [c for c in table.columns if c not in ("metric", "floor", "floor_std")]
    out = pd.DataFrame({"metric": table["metric"]})
    out["two real samples (floor)"] = [
        f"{m:.4g} ± {s:.2g}" if s and np.isfinite(s) else f"{m:.4g}"
        for m, s in zip(table["floor"], table["floor_std"], strict=True)
    ]
    for name in generators:
        out[name] = [_fidelity_cell(v) for v in table[name]]
    return out


def _fidelity_cell(value: float) -> str:
    """A generator's number as the table shows it: an infinite width is no peak at all."""
    if np.isinf(value):
        return "no peak (≥ window)"
    return f"{value:.4g}" if np.isfinite(value) else ""


def _built_with(settings: Mapping[str, Any]) -> list[str]:
    """The physics-built options a GAN was trained with, in a few words each."""
    out = []
    if settings.get("representation") == "pair":
        out.append("pair coordinates")
    if settings.get("reflect"):
        out.append("phi mirrored")
    if settings.get("mmd_weight"):
        out.append(f"MMD on m x {settings['mmd_weight']:g}")
    if settings.get("ema_decay"):
        out.append(f"EMA {settings['ema_decay']:g}")
    if settings.get("select_on_mass"):
        out.append("checkpoint on m too")
    return out


def generative_caption(table: pd.DataFrame, records: Mapping[str, Mapping[str, Any]]) -> str:
    """What the generators are and what their training cost, and how to read the table."""
    parts = []
    for name, record in records.items():
        settings = record["settings"]
        critic = f", {settings['critic']} critic" if "critic" in settings else ""
        built = "".join(f", {html.escape(b)}" for b in _built_with(settings))
        parts.append(
            f"<code>{html.escape(name)}</code> "
            f"({settings['objective']}{critic}{built}: "
            f"{settings['steps']} steps, {record['train_seconds']:.0f} s on "
            f"{html.escape(record['device'])}, kept step {record['best_step']})"
        )
    return (
        "<p>Generators: " + "; ".join(parts) + ". Distances (W1, KS, FPD, KPD) are 0 for "
        "identical distributions, two-sample AUCs 0.5; the floor column is what two real "
        "samples of the same size give. W1 is in the feature's unit (GeV, rad).</p>"
    )


def ablation_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every ablated generator's candidates in chain order, formatted for display (a FWHM
    at the window is no peak)."""
    from mlhep.generative.ablation import COLUMNS, table

    frame = table({name: record["rows"] for name, record in records.items()})
    for key, heading, fmt in COLUMNS:
        fwhm = key == "fwhm"
        frame[heading] = [
            _fidelity_cell(v) if fwhm and np.isinf(v) else format(v, fmt) for v in frame[heading]
        ]
    return frame


def ablation_caption(records: Mapping[str, Mapping[str, Any]]) -> str:
    """How the ablation chose (the rule of :mod:`mlhep.generative.ablation`) and what each
    generator kept."""
    from mlhep.generative.ablation import AUC_TOLERANCE, CHANGED_KEYS, W1_TOLERANCE

    kept = []
    for name, record in records.items():
        options = {k: v for k, v in record["kept"].items() if k in CHANGED_KEYS}
        changed = {k: v for k, v in options.items() if record["baseline"].get(k) != v}
        words = ", ".join(f"{k} = {v}" for k, v in sorted(changed.items())) or "nothing"
        kept.append(f"<code>{html.escape(name)}</code> kept {html.escape(words)}")
    return (
        "<p>The physics-built options, change by change (<code>generative.ablation</code>): "
        "each generator starts from its plain model, each candidate is trained as the "
        "generator is (its checkpoint chosen on one half of the validation split) and judged "
        "on the other half; a change is kept when it lowers the two-sample AUC on all "
        f"features by more than {AUC_TOLERANCE}, or leaves it within that and lowers W1 of "
        f"the signal's pair mass by more than {W1_TOLERANCE} GeV. The test split is not "
        "read. " + "; ".join(kept) + ".</p>"
    )


def classifier_table(summary: pd.DataFrame, set_order: Sequence[str] = ()) -> pd.DataFrame:
    """The summary as the report shows it: one row per (data set, features, model), feature
    sets in ``set_order`` (the config's), best first within one, with the Bayes limit, the
    paired gap to it with its interval and verdict, TMVA's columns, KS D beside its p-value
    and the validated AMS with its interval."""
    columns = {
        "dataset": "data set",
        "features": "features",
        "model": "model",
        "auc": "AUC",
        "auc_low": "CI low",
        "auc_high": "CI high",
        "gap_to_bayes": "gap to limit",
        "gap_low": "gap CI low",
        "gap_high": "gap CI high",
        "limit_verdict": "verdict",
        "member_auc_std": "member AUC spread",
        "eff_at_b01": "eff_S @ eff_B 1%",
        "eff_at_b10": "eff_S @ 10%",
        "eff_at_b30": "eff_S @ 30%",
        "ks_signal": "KS D (S)",
        "ks_p_signal": "KS p (S)",
        "ks_background": "KS D (B)",
        "ks_p_background": "KS p (B)",
        "ams": "AMS",
        "ams_low": "AMS CI low",
        "ams_high": "AMS CI high",
    }
    return _ordered(summary, columns, set_order)


def calibration_table(summary: pd.DataFrame, set_order: Sequence[str] = ()) -> pd.DataFrame:
    """Every probabilistic classifier's probabilities against the exact posterior: excess
    log-loss, E|p - p*|, its 99th percentile, the logit slope and intercept, and the excess
    log-loss after each recalibration fitted on the validation split."""
    columns = {
        "dataset": "data set",
        "features": "features",
        "model": "model",
        "auc": "AUC",
        "excess_log_loss": "excess log-loss [nats]",
        "mean_abs_dp": "E|p - p*|",
        "p99_abs_dp": "99% |p - p*|",
        "logit_slope": "logit slope",
        "logit_intercept": "logit intercept",
        **{f"excess_log_loss_{m}": f"after {m}" for m in ("isotonic", "platt", "temperature")},
    }
    rows = summary[summary["excess_log_loss"].notna() & (summary["model"] != "bayes_optimal")]
    return _ordered(rows, columns, set_order)


def _ordered(
    summary: pd.DataFrame, columns: Mapping[str, str], set_order: Sequence[str]
) -> pd.DataFrame:
    """The named columns of the summary, renamed, sorted by feature set then AUC."""
    table = summary[[c for c in columns if c in summary]].copy()
    table["model"] = table["model"].replace({"bayes_optimal": "Bayes limit (exact)"})
    order = {name: k for k, name in enumerate(set_order)}
    table["_set"] = table["features"].map(lambda f: order.get(f, len(order)))
    table = table.sort_values(["dataset", "_set", "auc"], ascending=[True, True, False])
    return table.drop(columns="_set").rename(columns=columns)


def run_table(manifest: Mapping[str, Any]) -> pd.DataFrame:
    """MLflow run id of every trained model, classifiers and regressors (from its training
    record)."""
    rows = []
    entries = [*manifest["datasets"].items(), *(manifest.get("regression") or {}).items()]
    for dataset, entry in entries:
        for trained in entry["trained"]:
            record = read_json(trained["record"])
            rows.append(
                {
                    "data set": dataset,
                    "model": trained["model"],
                    "features": trained["features"],
                    "MLflow run id": record.get("mlflow_run_id", ""),
                }
            )
    return pd.DataFrame(rows, columns=["data set", "model", "features", "MLflow run id"])


def package_versions(packages: Iterable[str] = PACKAGES) -> pd.DataFrame:
    """Installed versions of the packages that shape the results (and Python's)."""
    rows = [{"package": "python", "version": sys.version.split()[0]}]
    for name in packages:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        rows.append({"package": name, "version": version})
    return pd.DataFrame(rows)


def browse_instructions(tracking_uri: str, port: int = 5000) -> str:
    """How to open the workflow's runs in the MLflow UI: :mod:`mlhep.browse` for a local
    store (run in the workflow's directory), the address of a tracking server."""
    if tracking_uri.startswith(("http://", "https://")):
        return (
            f"open {tracking_uri}/#/experiments?workflowType=machine_learning in a browser "
            "(with your MLflow user and password)"
        )
    return (
        f".venv/bin/python -m mlhep.browse --port {port}  (it prints the address of each "
        "experiment's training runs)"
    )


def _write_kernelspec(root: Path) -> None:
    """An explicit kernel for this interpreter (``python3`` would resolve to whatever
    ``python`` is first on PATH, on a cluster node often not this environment's)."""
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (mlhep)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


def render(
    html_path: str | os.PathLike[str],
    parameters: Mapping[str, Any],
    executed_path: str | os.PathLike[str] | None = None,
    notebook: str | os.PathLike[str] = NOTEBOOK,
    cwd: str | os.PathLike[str] = ".",
    timeout: int = 600,
) -> None:
    """Execute ``notebook`` with ``parameters`` (papermill) and write it as one
    self-contained HTML page without code (nbconvert); optionally keep the executed
    notebook. Each output appears complete or not at all."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    with tempfile.TemporaryDirectory(prefix="mlhep-report-") as tmp:
        scratch = Path(tmp)
        _write_kernelspec(scratch / "data")
        env = {
            "JUPYTER_PATH": str(scratch / "data"),
            "JUPYTER_DATA_DIR": str(scratch / "data"),
            "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
            "JUPYTER_CONFIG_DIR": str(scratch / "config"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "IPYTHONDIR": str(scratch / "ipython"),
            "MPLCONFIGDIR": str(scratch / "matplotlib"),
        }
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            executed = scratch / "report.ipynb"
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=dict(parameters),
                kernel_name=KERNEL_NAME,
                language="python",
                cwd=str(cwd),
                progress_bar=False,
                log_output=False,
                execution_timeout=timeout,
            )
            node = nbformat.read(executed, as_version=4)
            exporter = HTMLExporter(
                template_name=TEMPLATE,
                extra_template_basedirs=[str(NOTEBOOK_DIR / "templates")],
                exclude_input=True,
                exclude_input_prompt=True,
                exclude_output_prompt=True,
            )
            body, _ = exporter.from_notebook_node(node)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if executed_path is not None:
            with atomic_path(executed_path) as out:
                out.write_bytes(executed.read_bytes())
    with atomic_path(html_path) as out:
        out.write_text(body, encoding="utf-8")
