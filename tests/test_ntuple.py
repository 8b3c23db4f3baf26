"""The ``root`` dataset kind: expressions, jagged collections made flat, the toy written as
user ntuples and read back equal, real CMS open data, and a clear error for each kind of
bad input (missing, truncated or non-ROOT file, missing tree or branch, bad expression,
empty selection). Also what every dataset plug-in promises the rest of the workflow."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from mlhep.config import ConfigError, validate_config
from mlhep.data import KINDS, DatasetKind, Task, get_kind
from mlhep.data.dimuon.generate import build_features as toy_features
from mlhep.data.dimuon.generate import generate_dimuon
from mlhep.data.dimuon.ntuples import USER_TREE, user_ntuple_settings, write_user_ntuples
from mlhep.data.ntuple import NtupleError
from mlhep.data.ntuple.expressions import FUNCTIONS, ExpressionError, parse
from mlhep.data.ntuple.flatten import leading, opposite_charge_pair
from mlhep.data.ntuple.reader import build_features, check_settings, produce
from mlhep.features.splits import make_splits
from mlhep.models import MODELS
from mlhep.models.base import FitContext, hyperparameters
from mlhep.models.training import TrainingJob, train

REPO = Path(__file__).resolve().parents[1]
SPLITS = {"train": 0.5, "validation": 0.25, "test": 0.25}


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """A small generated toy dataset's feature table."""
    path = tmp_path_factory.mktemp("toy") / "events.root"
    generate_dimuon(path, 1500, 2500, 1000.0, 100000.0, seed=5, progress=False)
    return toy_features(path)


@pytest.fixture(scope="module")
def user_files(toy: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The toy written as separate signal and background user-style ntuples."""
    return write_user_ntuples(toy, tmp_path_factory.mktemp("user"))


@pytest.fixture
def settings(user_files: dict[str, Path]) -> dict:
    """Validated root-dataset settings that read the user ntuples back."""
    config = {"datasets": {"user": user_ntuple_settings(user_files)}}
    validate_config(config)
    return config["datasets"]["user"]


# ---------------------------------------------------------------- expressions


def test_expressions_read_names_and_evaluate_on_flat_and_jagged_arrays() -> None:
    expr = parse("log(pt) + where(q < 0, 1, 2) * sum(jet_pt)")
    assert expr.names == {"pt", "q", "jet_pt"}  # function names are not columns
    columns = {
        "pt": np.array([1.0, np.e]),
        "q": np.array([-1, 1]),
        "jet_pt": ak.Array([[1.0, 2.0], []]),
    }
    assert np.allclose(np.asarray(expr.evaluate(columns)), [3.0, 1.0])
    cut = parse("(pt > 1) & ~(q < 0) and count(jet_pt) == 0")
    assert np.asarray(cut.evaluate(columns)).tolist() == [False, True]
    assert np.asarray(
        parse('kind == "GG"').evaluate({"kind": ak.Array(["GG", "GT"])})
    ).tolist() == [True, False]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("log(pt", "invalid syntax"),
        ("foo(pt)", "unknown function 'foo'"),
        ("pt.__class__", "Attribute is not allowed"),
        ("__import__('os')", "unknown function '__import__'"),
        ("[pt]", "List is not allowed"),
        ("", "empty"),
    ],
)
def test_bad_expressions_are_refused_naming_them(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text)


def test_an_expression_that_does_not_evaluate_names_itself_and_the_missing_name() -> None:
    with pytest.raises(ExpressionError, match=r"'pt \+ ptt': unknown name\(s\) \['ptt'\]"):
        parse("pt + ptt").evaluate({"pt": np.ones(2)})
    with pytest.raises(ExpressionError, match="'pt - kind' does not evaluate"):
        parse("pt - kind").evaluate({"pt": np.ones(2), "kind": ak.Array(["a", "b"])})


# ---------------------------------------------------------------- flattening


def test_leading_objects_are_sorted_and_padded() -> None:
    fields = {
        "pt": ak.Array([[10.0, 30.0, 20.0], [5.0], []]),
        "eta": ak.Array([[0.1, 0.3, 0.2], [0.5], []]),
    }
    columns, keep = leading("jet", fields, {"n": 2, "fill": -1.0, "sort_by": "pt"})
    assert keep.all()
    assert columns["jet0_pt"].tolist() == [30.0, 5.0, -1.0]
    assert columns["jet1_pt"].tolist() == [20.0, -1.0, -1.0]
    assert columns["jet0_eta"].tolist() == [0.3, 0.5, -1.0]
    assert columns["jet_count"].tolist() == [3, 1, 0]


def test_opposite_charge_pair_takes_the_leading_of_each_charge_and_drops_the_rest() -> None:
    fields = {
        "pt": ak.Array([[10.0, 40.0, 30.0, 20.0], [50.0, 60.0], [7.0]]),
        "charge": ak.Array([[1, -1, 1, -1], [1, 1], [-1]]),
    }
    columns, keep = opposite_charge_pair("mu", fields, {"charge": "charge", "sort_by": "pt"})
    assert keep.tolist() == [True, False, False]
    assert (columns["mu_minus_pt"][0], columns["mu_plus_pt"][0]) == (40.0, 30.0)
    assert columns["mu_count"].tolist() == [4, 2, 1]


# ---------------------------------------------------------------- toy round trip


def test_user_ntuples_have_another_layout(user_files: dict[str, Path]) -> None:
    with uproot.open(user_files["signal"]) as file:
        tree = file[USER_TREE]
        assert {"nMuon", "Muon_pt", "Muon_charge", "nJet", "Jet_pt", "MET_pt", "genWeight"} <= set(
            tree.keys()
        )
        assert str(tree["Muon_pt"].interpretation).startswith("AsJagged")


def test_toy_written_as_user_ntuples_reads_back_to_the_same_features_and_results(
    toy: pd.DataFrame, settings: dict, tmp_path: Path
) -> None:
    record = produce(tmp_path / "events.root", settings, 0, dataset="user", progress=False)
    assert (record["n_signal"], record["n_background"]) == (1500, 2500)
    assert record["sources"]["signal"]["weight_sum"] == pytest.approx(1000.0)
    back = build_features(tmp_path / "events.root")
    assert toy["event_id"].is_monotonic_increasing  # the generated table, in event-id order
    pd.testing.assert_frame_equal(back, toy, check_dtype=False, check_exact=True)
    # the same splits and, trained on them, the same model and predictions
    config: dict = {}
    validate_config(config)
    bdt = {**hyperparameters(config["models"]["bdt"]), "n_estimators": 30}
    predictions = {}
    for name, table in {"toy": toy, "user": back}.items():
        splits, _ = make_splits(table, SPLITS, seed=7)
        paths = {}
        for split, frame in splits.items():
            paths[split] = tmp_path / f"{name}-{split}.parquet"
            frame.to_parquet(paths[split])
        columns = list(toy.columns[3:])
        job = TrainingJob(
            model="bdt",
            dataset=name,
            features="all",
            columns=columns,
            settings=bdt,
            context=FitContext(seed=3),
            model_dir=tmp_path / name / "model",
            predictions=tmp_path / name / "predictions.parquet",
            record=tmp_path / name / "train.json",
        )
        train(job, paths, None)
        frame = pd.read_parquet(job.predictions)
        predictions[name] = frame.sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(predictions["toy"], predictions["user"])


def test_files_are_read_in_chunks_with_the_same_result(settings: dict, tmp_path: Path) -> None:
    whole = produce(tmp_path / "a.root", settings, 0, dataset="user", progress=False)
    small = produce(
        tmp_path / "b.root", {**settings, "step_size": 300}, 0, dataset="user", progress=False
    )
    assert whole["entries"] == small["entries"]
    pd.testing.assert_frame_equal(
        build_features(tmp_path / "a.root"), build_features(tmp_path / "b.root")
    )


def test_globs_weights_and_cuts(
    user_files: dict[str, Path], settings: dict, tmp_path: Path
) -> None:
    for k in range(2):  # the background split in two files, found by a glob
        shutil.copy(user_files["background"], tmp_path / f"bkg_{k}.root")
    changed = copy.deepcopy(settings)
    changed["background"]["files"] = [str(tmp_path / "bkg_*.root")]
    changed["background"]["event_id"] = None  # the copies repeat the ids
    changed["signal"]["event_id"] = None
    changed["background"]["weight"] = "2 * genWeight"
    changed["cut"] = "met > 20"
    record = produce(tmp_path / "events.root", changed, 0, dataset="user", progress=False)
    back = build_features(tmp_path / "events.root")
    assert (back["met"] > 20).all()
    assert record["sources"]["background"]["files"] == [
        str(tmp_path / f"bkg_{k}.root") for k in range(2)
    ]
    bkg = back[back.label == 0]
    assert record["sources"]["background"]["read"] == 5000
    assert (
        len(bkg) == record["n_background"] == 5000 - record["sources"]["background"]["failed_cuts"]
    )
    assert bkg["weight"].iloc[0] == pytest.approx(2 * 100000.0 / 2500)
    assert back["event_id"].is_unique


# ---------------------------------------------------------------- errors


def _produce_error(settings: dict, tmp_path: Path) -> str:
    """The error produce raises; nothing may be left behind."""
    with pytest.raises(NtupleError) as info:
        produce(tmp_path / "events.root", settings, 0, dataset="user", progress=False)
    assert not (tmp_path / "events.root").exists()
    assert not list(tmp_path.glob(".events*"))
    return str(info.value)


def test_missing_and_unmatched_files_are_refused_by_the_config(settings: dict) -> None:
    for pattern, message in (
        ("nowhere/x.root", "'nowhere/x.root' does not exist"),
        ("nowhere/*.root", "'nowhere/\\*.root' matches no file"),
        ("skhep_testdata:nope.root", "skhep_testdata:nope.root is not shipped"),
    ):
        bad = copy.deepcopy(settings)
        bad["signal"]["files"] = [pattern]
        with pytest.raises(ConfigError, match=rf"datasets.user.signal.files': {message}"):
            validate_config({"datasets": {"user": bad}})


def test_bad_expressions_are_refused_by_the_config_naming_the_key(settings: dict) -> None:
    bad = copy.deepcopy(settings)
    bad["features"]["met"] = "log(MET_pt"
    bad["background"]["cut"] = "os.system('x')"
    assert check_settings(bad) == [
        ("features.met", "expression 'log(MET_pt': invalid syntax ('(' was never closed)"),
        (
            "background.cut",
            "expression \"os.system('x')\": unknown function 'os.system' "
            f"(allowed: {sorted(FUNCTIONS)})",
        ),
    ]


def test_the_engineering_and_collection_rules_name_what_they_need(settings: dict) -> None:
    bad = copy.deepcopy(settings)
    del bad["features"]["mu_plus_phi"]
    assert check_settings(bad) == [("engineer", "dimuon needs the features ['mu_plus_phi']")]
    bad = copy.deepcopy(settings)
    collections = copy.deepcopy(settings["background"]["collections"])  # not the signal's
    bad["background"]["collections"] = collections
    collections["mu"]["charge"] = "q"
    collections["jet"]["sort_by"] = "eta"
    assert check_settings(bad) == [
        (
            "background.collections.mu",
            "rule 'opposite_charge_pair' needs the field 'q' "
            "(fields: ['charge', 'eta', 'phi', 'pt'])",
        ),
        ("background.collections.jet", "rule 'leading' needs the field 'eta' (fields: ['pt'])"),
    ]


def test_truncated_and_non_root_files_name_the_file(
    user_files: dict[str, Path], settings: dict, tmp_path: Path
) -> None:
    data = user_files["signal"].read_bytes()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(data[: len(data) // 2])
    bad = copy.deepcopy(settings)
    bad["signal"]["files"] = [str(truncated)]
    message = _produce_error(bad, tmp_path)
    assert (
        f"{truncated}: truncated ROOT file: {len(data) // 2} bytes on disk, "
        f"its header says {len(data)}" in message
    )
    text = tmp_path / "notes.root"
    text.write_text("these are not events\n")
    bad["signal"]["files"] = [str(text)]
    assert f"{text}: not a ROOT file (it starts with b'thes'" in _produce_error(bad, tmp_path)


def test_missing_tree_and_branch_name_the_file(settings: dict, tmp_path: Path) -> None:
    bad = copy.deepcopy(settings)
    bad["background"]["tree"] = "Events2"
    message = _produce_error(bad, tmp_path)
    assert "datasets.user.background.tree" in message
    assert "has no tree 'Events2' (its trees: ['Events'])" in message
    bad = copy.deepcopy(settings)
    bad["features"]["met"] = "log(MET_ptt)"
    message = _produce_error(bad, tmp_path)
    assert (
        "config key 'datasets.user.features.met': expression 'log(MET_ptt)' reads 'MET_ptt'"
        in message
    )
    assert "signal.root:Events" in message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (("features", "met"), "Muon_pt", "gives a jagged (per-object) value; reduce it"),
        (
            ("features", "met"),
            "log(MET_pt - 1000)",
            "'log(MET_pt - 1000)' is not finite (NaN or inf) for",
        ),
        (
            ("cut",),
            "MET_pt < 0",
            "no event selected from 1500 read (0 lack what the collection rules need, "
            "1500 fail the cuts ['MET_pt < 0'])",
        ),
        (("cut",), "MET_pt * 2", "the cut 'MET_pt * 2' gives float64 values, not true/false"),
        (("signal", "weight"), "Muon_charge - MET_pt", "gives a jagged (per-object) value"),
        (("signal", "weight"), "~MET_pt", "'~MET_pt' does not evaluate: TypeError: "),
        (
            ("features", "met"),
            "sum(MET_pt)",
            "expression 'sum(MET_pt)': sum reduces a jagged (per-object) branch to one value "
            "per event; its argument is already one value per event",
        ),
        (
            ("features", "met"),
            "max(Jet_pt)",
            "expression 'max(Jet_pt)' has no value for",
        ),
        (("cut",), "not MET_pt", "'not' needs true/false values (comparisons), not float"),
        (("features", "met"), "where(nJet, 1, 2)", "where needs a true/false condition"),
        (("cut",), "MET_pt == 'x'", "compares float"),
        (
            ("background", "event_id"),
            "event * 0",
            "2500 event id(s) repeat across signal and background (e.g. 0)",
        ),
    ],
)
def test_expressions_that_fail_on_the_data_stop_before_anything_is_written(
    settings: dict, tmp_path: Path, key: tuple[str, ...], value: str, message: str
) -> None:
    bad = copy.deepcopy(settings)
    node = bad
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value
    error = _produce_error(bad, tmp_path)
    assert message in error
    assert error.startswith("config key 'datasets.user.")  # and the key that asked


# ---------------------------------------------------------------- CMS open data


def test_cms_open_data_through_the_root_kind(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate_config(config)
    settings = config["datasets"]["cms_dimuon"]
    assert get_kind("root").inputs(settings)[0].endswith("uproot-HZZ.root")
    record = produce(tmp_path / "events.root", settings, 0, dataset="cms_dimuon", progress=False)
    table = build_features(tmp_path / "events.root")
    assert record["sources"]["signal"]["read"] == 2421
    assert record["sources"]["background"]["read"] == 2304
    assert len(table) == record["entries"] > 1000
    z = table[table.label == 0]
    # one row per event: the GG pairs of opposite charge, and of the one event with two such
    # pairs (run 148031, event 425778251: M = 94.2 and 77.5 GeV) the one whose M is closer to
    # the Z mass
    background = record["sources"]["background"]
    assert record["n_background"] == len(z) == 500
    assert (background["multiple_candidate_events"], background["dropped_candidates"]) == (1, 1)
    assert record["sources"]["signal"]["multiple_candidate_events"] == 0
    assert z["m_mumu"].between(60, 120).mean() > 0.9
    assert abs(np.median(z["m_mumu"]) - 91.0) < 1.5
    assert set(config["datasets"]["cms_dimuon"]["feature_sets"]) == {"low", "high", "all"}


def _zmumu(tmp_path: Path, name: str, one_per_event: dict | None, step_size: int | str) -> dict:
    """The cms_dimuon dataset's background read with ``one_per_event`` (and, with it, an
    event id from the run and event numbers): the record and the background rows."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"]["cms_dimuon"]["background"]["one_per_event"] = one_per_event
    if one_per_event is not None:
        config["datasets"]["cms_dimuon"]["background"]["event_id"] = "Run * 10000000000 + Event"
    config["datasets"]["cms_dimuon"]["step_size"] = step_size
    validate_config(config)
    settings = config["datasets"]["cms_dimuon"]
    record = produce(tmp_path / name, settings, 0, dataset="cms_dimuon", progress=False)
    table = build_features(tmp_path / name)
    return {"record": record, "z": table[table.label == 0].set_index("event_id")}


def test_one_candidate_per_event_by_a_stated_criterion_on_real_zmumu(tmp_path: Path) -> None:
    event = 148031 * 10000000000 + 425778251  # the event with two passing GG pairs
    every = _zmumu(tmp_path, "every.root", None, "100 MB")
    assert every["record"]["n_background"] == len(every["z"]) == 501
    closest = {"event": ["Run", "Event"], "best": "abs(M - 91.1876)"}
    one = _zmumu(tmp_path, "one.root", closest, "100 MB")
    background = one["record"]["sources"]["background"]
    assert one["record"]["n_background"] == len(one["z"]) == 500
    assert one["z"].index.is_unique
    assert (background["multiple_candidate_events"], background["dropped_candidates"]) == (1, 1)
    assert one["z"].loc[event, "m_mumu"] == pytest.approx(94.4, abs=0.05)
    # the rows are those without the rule but the other pair of that event (its M is 77.5
    # GeV; its m_mumu, from the file's pt1 branch, which for this muon disagrees with px1 and
    # py1, is 92.2)
    [dropped] = set(every["z"]["m_mumu"]) - set(one["z"]["m_mumu"])
    assert dropped == pytest.approx(92.24, abs=0.01)
    kept = every["z"][every["z"]["m_mumu"] != dropped]
    pd.testing.assert_frame_equal(  # the event ids differ: compared in mass order
        kept.sort_values("m_mumu").reset_index(drop=True),
        one["z"].sort_values("m_mumu").reset_index(drop=True),
    )
    # chunks of 50 entries (an event's pairs split across chunks): the same rows
    small = _zmumu(tmp_path, "small.root", closest, 50)
    pd.testing.assert_frame_equal(small["z"], one["z"])
    assert small["record"]["sources"]["background"] == background
    highest = _zmumu(tmp_path, "highest.root", {**closest, "keep": "highest"}, 50)
    assert highest["z"].loc[event, "m_mumu"] == pytest.approx(dropped)  # M = 77.5 GeV


def _write_pairs(path: Path, run: list[int], event: list[int]) -> Path:
    """A small flat ROOT tree of candidates: run and event numbers and a mass."""
    with uproot.recreate(path) as file:
        tree = file.mktree("events", {"Run": np.int32, "Event": np.int64, "M": np.float64})
        tree.extend(
            {
                "Run": np.array(run, dtype=np.int32),
                "Event": np.array(event, dtype=np.int64),
                "M": np.linspace(80.0, 100.0, len(run)),
            }
        )
    return path


def test_one_per_event_refuses_non_adjacent_candidates_and_float_keys(tmp_path: Path) -> None:
    adjacent = _write_pairs(tmp_path / "sig.root", [1, 1, 1], [1, 2, 3])
    scattered = _write_pairs(tmp_path / "bkg.root", [1, 1, 1], [1, 2, 1])
    settings = {
        "kind": "root",
        "signal": {"files": [str(adjacent)]},
        "background": {
            "files": [str(scattered)],
            "one_per_event": {"event": ["Run", "Event"], "best": "abs(M - 91)"},
        },
        "features": ["M"],
    }
    assert check_settings(settings) == []
    with pytest.raises(NtupleError) as info:
        produce(tmp_path / "events.root", settings, 0, dataset="pairs", progress=False)
    assert str(info.value).startswith("config key 'datasets.pairs.background.one_per_event.event'")
    assert "1 event(s) have candidates that are not adjacent in the files (e.g. the event " in str(
        info.value
    )
    assert not (tmp_path / "events.root").exists()
    settings["background"]["files"] = [str(adjacent)]
    settings["background"]["one_per_event"]["event"] = ["Run", "Event * 0.5"]
    with pytest.raises(
        NtupleError,
        match=r"'datasets.pairs.background.one_per_event.event\[1\]': gives float64 values, "
        "not integers",
    ):
        produce(tmp_path / "events.root", settings, 0, dataset="pairs", progress=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("log(MET_pt, MET_phi)", "log takes 1 argument, got 2"),
        ("hypot(MET_pt, MET_pt, MET_phi)", "hypot takes 2 arguments, got 3"),
        ("MET_pt * 2**2**40", "the constant power '2 ** 2 ** 40' is beyond 64 bits"),
        ("MET_pt + len('a' * 10**10)", "unknown function 'len'"),
        ("'a' * 10**10 == Type", "the string 'a' may only be compared with == or !="),
        ("-" * 5000 + "MET_pt", "too long (at most 2000 characters)"),
        ("+".join(["MET_pt"] * 200), "nested too deeply (200 levels, at most 64)"),
        ("not MET_pt + 1", "'not' needs true/false values (comparisons), not the number"),
        ("sum(count(Jet_pt))", "'count(Jet_pt)' is already one value per event"),
    ],
)
def test_expressions_that_would_corrupt_or_hang_are_refused_by_the_config(
    settings: dict, text: str, message: str
) -> None:
    bad = copy.deepcopy(settings)
    bad["features"]["met"] = text
    [(key, problem)] = check_settings(bad)
    assert key == "features.met"
    assert problem.startswith("expression ")
    assert message in problem
    with pytest.raises(ConfigError, match=r"'datasets.user.features.met': expression "):
        validate_config({"datasets": {"user": bad}})


# ---------------------------------------------------------------- the plug-in contract


def test_dataset_plugins_import_neither_the_models_nor_the_generative_stage() -> None:
    """Reading every kind imports no model family, no torch and, of the generative
    package, only the `generated` kind's own module (it samples the stage's product)."""
    code = (
        "import sys\n"
        "from mlhep.data import KINDS, get_kind\n"
        "[get_kind(k) for k in KINDS]\n"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[:2] in (['mlhep', 'models'], ['mlhep', 'generative'], ['torch'])))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['mlhep.generative', 'mlhep.generative.dataset']"


def test_dataset_plugins_name_registered_models_of_their_task_and_say_what_they_are() -> None:
    for name in KINDS:
        kind = get_kind(name)
        for model in kind.default_models or {}:
            assert model in MODELS, f"{name}: default model {model!r} is not registered"
            assert MODELS[model].kind == kind.model_kind, (name, model)
    assert [n for n in KINDS if get_kind(n).learnable_by_generators] == ["dimuon"]
    assert [n for n in KINDS if get_kind(n).samples_generator] == ["generated"]
    assert [n for n in KINDS if get_kind(n).reads_user_ntuples] == ["root"]
    assert get_kind("pulse").task is Task.REGRESSION and get_kind("pulse").task == "regression"
    assert get_kind("dimuon").model_kind == "classifier"
    plain = DatasetKind("x", "", {}, (), dict, pd.DataFrame, {}, task="regression")
    assert plain.task is Task.REGRESSION and plain.model_kind == "regressor"
    with pytest.raises(ValueError, match="'sorting' is not a valid Task"):
        DatasetKind("x", "", {}, (), dict, pd.DataFrame, {}, task="sorting")
