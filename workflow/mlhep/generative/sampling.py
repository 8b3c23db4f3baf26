"""What every generator of the stage shares when it makes events: the toy's rejection (a
generated event outside the pair-mass range or the acceptance is drawn again, as the toy's
own generator does), and loading a saved generator of any model by its settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd

#: Candidates generated at most in one rejection round (bounds the memory).
MAX_CANDIDATES = 2_000_000
#: A strict sampler gives up once this many candidates show an acceptance below
#: :data:`MIN_ACCEPTANCE`: such a generator has not learnt the mass range and the
#: acceptance (trained ones keep 85-95% of their events), and drawing its events one in
#: ten thousand would take minutes of rounds.
GIVE_UP_AFTER, MIN_ACCEPTANCE = 1_000_000, 1e-4


class Sampler(Protocol):
    """A trained generator as the stage uses it: events for labels, saved to one file."""

    settings: dict[str, Any]

    def sample(
        self, labels: np.ndarray, seed: int, max_rounds: int = 100, strict: bool = True
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """One event per label (low-level columns and ``label``) and the tries per class."""
        ...

    def save(self, path: str | os.PathLike[str]) -> None:
        """Weights and settings in one file."""
        ...


#: A checkpoint's monitor: the generator in, its fidelity metrics out (lower is better for
#: the entry ``selection``, which chooses a GAN's checkpoint).
Monitor = Callable[[Sampler], dict[str, float]]


def rejection_sample(
    labels: np.ndarray,
    width: int,
    draw: Callable[[np.ndarray], np.ndarray],
    accept: Callable[[np.ndarray], np.ndarray],
    max_rounds: int,
    strict: bool,
    hint: str,
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Raw coordinates (``width`` per event) of one accepted event per label: ``draw``
    makes raw coordinates for a label array, ``accept`` says which of them the toy could
    have made (the pair mass in range, the muons in the acceptance). Missing events
    are drawn again, with more candidates per event as the acceptance shows itself. Returns
    the coordinates, the mask of the events found (all of them unless ``strict`` is off)
    and the candidates tried per class, counted as the toy counts them. ``hint`` says how
    to fix a generator that misses too often; a ``strict`` call fails early if the
    acceptance is hopeless (:data:`MIN_ACCEPTANCE`)."""
    raw = np.zeros((len(labels), width))
    missing = np.arange(len(labels))
    tried = {0: 0, 1: 0}
    total_found = 0
    copies = 1  # candidates per missing event, raised as the acceptance shows itself
    for _ in range(max_rounds):
        if len(missing) == 0:
            break
        coords = draw(np.repeat(labels[missing], copies))
        ok = accept(coords).reshape(len(missing), copies)
        found = ok.any(axis=1)
        first = np.argmax(ok, axis=1)  # the first candidate in range of each event
        used = np.where(found, first + 1, copies)  # candidates tried, as the toy counts
        for c in (0, 1):
            tried[c] += int(used[labels[missing] == c].sum())
        rows = np.arange(len(missing))[found] * copies + first[found]
        raw[missing[found]] = coords[rows]
        acceptance = max(found.sum(), 1) / max(used.sum(), 1)
        missing = missing[~found]
        total_found += int(found.sum())
        total_tried = tried[0] + tried[1]
        hopeless = total_tried >= GIVE_UP_AFTER and total_found < MIN_ACCEPTANCE * total_tried
        if strict and len(missing) and hopeless:
            raise RuntimeError(
                "the generator puts almost no events in the mass range and acceptance: "
                f"{total_found} of {total_tried:,} candidates accepted, {len(missing)} of "
                f"{len(labels)} events still missing ({hint})"
            )
        copies = int(min(np.ceil(2.0 / acceptance), max(1, MAX_CANDIDATES // max(len(missing), 1))))
    if len(missing) and strict:
        raise RuntimeError(
            "the generator puts too few events in the mass range and acceptance: "
            f"{len(missing)} of {len(labels)} still missing after {max_rounds} rounds ({hint})"
        )
    keep = np.ones(len(labels), bool)
    keep[missing] = False
    return raw, keep, tried


def sample_events(
    labels: np.ndarray,
    seed: int,
    device: str,
    width: int,
    draw: Callable[[np.ndarray, Any], np.ndarray],
    accept: Callable[[np.ndarray], np.ndarray],
    decode: Callable[[np.ndarray, np.random.Generator], dict[str, np.ndarray]],
    max_rounds: int,
    strict: bool,
    hint: str,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One event per entry of ``labels`` (1 signal, 0 background), in order: the low-level
    columns and ``label``, decoded from raw coordinates that ``draw(labels, torch
    generator)`` makes; events the toy could not have made are drawn again (see
    :func:`rejection_sample`). Returns also the number tried per class."""
    import torch

    labels = np.asarray(labels, dtype=np.int64)
    # a stream of its own: a caller that drew the labels from default_rng(seed) must not
    # find the azimuths drawn from the same numbers (they would encode the label)
    rng = np.random.default_rng([seed, 1])
    torch_gen = torch.Generator(device=device).manual_seed(seed)
    raw, keep, tried = rejection_sample(
        labels, width, lambda y: draw(y, torch_gen), accept, max_rounds, strict, hint
    )
    frame = pd.DataFrame(decode(raw[keep], rng))
    frame["label"] = labels[keep]
    return frame, {"signal": tried[1], "background": tried[0]}


def load(path: str | os.PathLike[str], device: str = "cpu") -> Sampler:
    """A saved generator of any model, loaded by its model's trainer (the model registry's
    entry named by the ``objective`` in its saved settings)."""
    import torch

    from mlhep.models import MODELS, ModelKind, get_trainer

    saved = torch.load(path, map_location="cpu", weights_only=True)
    objective = saved["settings"].get("objective")
    if objective not in MODELS or MODELS[objective].kind != ModelKind.GENERATOR:
        known = sorted(n for n, e in MODELS.items() if e.kind == ModelKind.GENERATOR)
        raise ValueError(
            f"{os.fspath(path)}: not a saved generator (model {objective!r}; known: {known})"
        )
    return get_trainer(objective).load(path, device)
