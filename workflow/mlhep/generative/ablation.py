"""The physics-built GAN's ablation: changes added one at a time to a generator, each kept
only if it helps on validation events (issue: "each change kept only if it helps on
validation, and reported one by one").

Each candidate trains as the workflow trains a generator (the checkpoint chosen by the
validation monitor on one half of the validation split) and is judged on the other half
with the fidelity stage's own metrics (:func:`mlhep.generative.fidelity.compare`); the
test split is never read. A change is kept when it lowers the two-sample AUC on all
features by more than :data:`AUC_TOLERANCE`, or leaves it within that and lowers W1 of the
signal's pair mass by more than :data:`W1_TOLERANCE`. The workflow runs it per generator
(``generative.ablation``, rule ``generator_ablation``) from the plain model: the
generator's settings with every key a change sets taken from ``models.<model>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: A setting's value, or a function of the settings that gives it (for example a step).
Override = Any | Callable[[Mapping[str, Any]], Any]
#: The changes, in the order they are tried: (label, settings overridden). A change the
#: kept settings already have is skipped.
CHANGES: tuple[tuple[str, dict[str, Override]], ...] = (
    ("critic's mass at 3 GeV per unit", {"mass_scale": 3.0}),
    ("pair representation", {"representation": "pair"}),
    ("phi -> -phi reflection", {"reflect": True}),
    ("MMD on m (weight 1)", {"mmd_weight": 1.0}),
    ("MMD on m (weight 10)", {"mmd_weight": 10.0}),
    (
        "generator EMA (0.995 after the first quarter)",
        {"ema_decay": 0.995, "ema_start": lambda s: s["steps"] // 4},
    ),
    ("checkpoint on W1(m, signal) too", {"select_on_mass": True}),
)
#: The settings the changes set: the ablation starts with them at the model's values.
CHANGED_KEYS = frozenset(key for _, change in CHANGES for key in change)
#: A change must lower the validation two-sample AUC by more than this to count as a gain
#: (about two standard errors of the AUC with 2 x 12.5k judged events).
AUC_TOLERANCE = 0.004
#: ... and, on a tie, lower W1 of the signal's pair mass by more than this [GeV]: two real
#: samples differ by about as much at the judged size (0.08 +- 0.03 GeV at 50k events, so
#: about 0.11 at 25k). Without it a change that leaves the mass alone (the reflection)
#: was kept on a W1 lower in the sixteenth digit.
W1_TOLERANCE = 0.1
#: The numbers of a row, in table order: (key, heading, format).
COLUMNS = (
    ("auc_all", "two-sample AUC, all", ".3f"),
    ("auc_low", "two-sample AUC, low-level", ".3f"),
    ("fwhm", "signal mass FWHM [GeV]", ".2f"),
    ("w1_mass_signal", "W1 signal mass [GeV]", ".2f"),
    ("fpd", "FPD", ".4f"),
    ("train_s", "train [s]", ".0f"),
    ("events_per_s", "events/s", ".0f"),
)


def applicable(settings: Mapping[str, Any]) -> list[tuple[str, dict[str, Override]]]:
    """The changes that can alter a generator: all of :data:`CHANGES`, less the physics
    critic's mass scale for a blind critic (which does not see the mass)."""
    blind = settings.get("critic") == "blind"
    return [(label, c) for label, c in CHANGES if not (blind and set(c) == {"mass_scale"})]


def split_validation(validation: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The validation events in two random halves: the monitor's and the judge's."""
    half = np.random.default_rng(seed).random(len(validation)) < 0.5
    return validation[half].reset_index(drop=True), validation[~half].reset_index(drop=True)


def judge(
    settings: Mapping[str, Any],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    seed: int,
    events: int,
    monitor_events: int,
    distances: Mapping[str, Any],
    device: str = "cpu",
) -> dict[str, Any]:
    """Train one candidate on ``train`` and judge it on the half of ``validation`` its
    monitor did not see; the row of the ablation table (with the candidate's settings)."""
    from mlhep.data.dimuon.physics import LOW_LEVEL_FEATURES
    from mlhep.generative import fidelity, jobs
    from mlhep.models import get_trainer

    monitored, judged = split_validation(validation, seed)
    monitor = jobs.make_monitor(monitored, monitor_events, seed + jobs.MONITOR_SEED)
    start = time.perf_counter()
    generator, info = get_trainer(settings["objective"]).train(
        train[[*LOW_LEVEL_FEATURES, "label"]],
        settings,
        seed=seed,
        threads=1,
        device=device,
        monitor=monitor,
    )
    seconds = time.perf_counter() - start
    real = fidelity.reference_sample(judged, events, seed + jobs.REFERENCE_SEED)
    labels = real["label"].to_numpy()
    other = fidelity.generated_sample(generator, labels, seed + jobs.GENERATED_SEED)
    values = fidelity.scalars(fidelity.compare(real, other, seed, distances))
    speed = fidelity.generation_speed(generator, labels, seed)
    return {
        "auc_all": values["two_sample_auc_all"],
        "auc_low": values["two_sample_auc_low"],
        "fwhm": values["fwhm_mass_signal"],
        "w1_mass_signal": values["w1_mass_signal"],
        "fpd": values["fpd"],
        "train_s": seconds,
        "best_step": info["best_step"],
        "events_per_s": speed["generator_events_per_second"],
        "settings": dict(settings),
    }


def better(candidate: Mapping[str, float], kept: Mapping[str, float]) -> bool:
    """Whether a candidate beats the kept generator on validation (see the module doc)."""
    gain = kept["auc_all"] - candidate["auc_all"]
    if gain > AUC_TOLERANCE:
        return True
    lower_w1 = kept["w1_mass_signal"] - candidate["w1_mass_signal"] > W1_TOLERANCE
    return abs(gain) <= AUC_TOLERANCE and lower_w1


def chain(
    settings: Mapping[str, Any],
    evaluate: Callable[[Mapping[str, Any]], dict[str, Any]],
    changes: Sequence[tuple[str, Mapping[str, Override]]] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The greedy ablation from ``settings``: ``evaluate`` judges a candidate's settings;
    each change (by default those :func:`applicable` to it) is added to the kept settings
    and kept if :func:`better`. Returns a row per candidate (``change``, ``kept`` and the
    numbers) and the final settings."""
    if changes is None:
        changes = applicable(settings)
    kept_settings = dict(settings)
    kept = {"change": "baseline", "kept": True, **evaluate(kept_settings)}
    rows = [kept]
    if progress is not None:
        progress(kept)
    for label, change in changes:
        overrides = {k: v(kept_settings) if callable(v) else v for k, v in change.items()}
        if all(kept_settings.get(k) == v for k, v in overrides.items()):
            continue
        candidate = {**kept_settings, **overrides}
        row = {"change": label, **evaluate(candidate)}
        row["kept"] = better(row, kept)
        if row["kept"]:
            kept_settings, kept = candidate, row
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows, kept_settings


def table(chains: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Every generator's chain as one table: a row per candidate (generator, change, kept and
    the numbers, headed as in :data:`COLUMNS`), in chain order."""
    rows = [
        {"generator": name, "change": r["change"], "kept": "yes" if r["kept"] else "no"}
        | {heading: r[key] for key, heading, _ in COLUMNS}
        for name, chain_rows in chains.items()
        for r in chain_rows
    ]
    return pd.DataFrame(rows, columns=["generator", "change", "kept", *(h for _, h, _ in COLUMNS)])


def markdown(name: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """One chain as a markdown table."""
    head = "| " + " | ".join(["change", "kept", *(h for _, h, _ in COLUMNS)]) + " |"
    lines = [f"{name}:", "", head, "|" + "---|" * (len(COLUMNS) + 2)]
    for r in rows:
        cells = [r["change"], "yes" if r["kept"] else "no"]
        cells += [format(r[k], f) for k, _, f in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
