"""A shared tracking server (docs/tracking-server.md): ``mlflow server`` on PostgreSQL with
basic authentication and artifacts served by the server. The tiny workflow (three of its
models, one of each MLflow flavour) logs to it as an authenticated user, and every run,
metric and model arrives, as in the local store of the full tiny run.

PostgreSQL is started by the test, on loopback, in a temporary directory (needs the Debian
package ``postgresql``; as root it runs as the ``postgres`` user).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import psycopg2
import pytest
from helpers import REDUCED_STUDIES, reduced_tiny_config, require, snakemake

from mlhep.tracking.server import (
    Server,
    free_port,
    group_members,
    is_healthy,
    server_command,
    server_url,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.postgres

USER = "alice"
ENABLE = (
    "needs the PostgreSQL server binaries (Debian: apt-get install postgresql) and, as root, "
    "the postgres user and runuser; .ci/run installs them"
)

# one row per run of a store: experiment, run, status and user (same SQL for both stores)
RUNS_SQL = """
    SELECT e.name, r.name, r.status, r.user_id, r.run_uuid
    FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id
    WHERE r.lifecycle_stage = 'active'
"""
#: Runs as experiment/name: a run's name is unique in its experiment (one per dataset)
METRICS_SQL = """
    SELECT e.name || '/' || r.name, m.key, m.value FROM latest_metrics m
    JOIN runs r ON r.run_uuid = m.run_uuid JOIN experiments e ON e.experiment_id = r.experiment_id
    WHERE r.lifecycle_stage = 'active'
"""
TAGS_SQL = """
    SELECT e.name || '/' || r.name, t.key, t.value FROM tags t
    JOIN runs r ON r.run_uuid = t.run_uuid JOIN experiments e ON e.experiment_id = r.experiment_id
"""
MODELS_SQL = """
    SELECT r.name, m.name, m.status, m.artifact_location, e.name
    FROM logged_models m JOIN runs r ON r.run_uuid = m.source_run_id
    JOIN experiments e ON e.experiment_id = r.experiment_id
"""


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), else ``initdb``'s
    directory on PATH."""
    versions = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if versions:
        return max(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def owner_prefix() -> list[str] | None:
    """How to run a command as the cluster's owner: PostgreSQL refuses to run as root, so
    root runs it as ``postgres``; any other user runs it as itself. None if impossible."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return [runuser, "-u", "postgres", "--"] if runuser else None


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster: data, socket and log in ``root``, TCP on loopback."""

    bindir: Path
    prefix: list[str]
    root: Path
    port: int
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    pid: int | None = None

    def run(self, tool: str, *args: str) -> None:
        """Run a PostgreSQL program as the cluster's owner; fail with its output."""
        proc = subprocess.run(
            [*self.prefix, str(self.bindir / tool), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"{tool} {args}: {proc.stdout}{proc.stderr}"

    def start(self) -> None:
        """initdb, then start the server; the superuser logs in over the socket only."""
        data = str(self.root / "data")
        self.run(
            "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-instructions",
        )
        # a throwaway test cluster: no fsync
        options = f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "postgres.log")
        self.run("pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
        self.pid = int((self.root / "data/postmaster.pid").read_text().split()[0])

    def connect(self, dbname: str = "postgres") -> Any:
        """A superuser connection over the Unix socket."""
        return psycopg2.connect(host=str(self.root), port=self.port, user="postgres", dbname=dbname)

    def query(self, sql: str, dbname: str = "mlflow") -> list[tuple]:
        """The rows of one query."""
        with contextlib.closing(self.connect(dbname)) as db, db.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    def processes(self) -> list[psutil.Process]:
        """The postmaster and its children (each in a session of its own)."""
        if self.pid is None or not alive(self.pid):
            return []
        postmaster = psutil.Process(self.pid)
        return [postmaster, *postmaster.children(recursive=True)]

    def stop(self) -> None:
        """Stop the cluster (fast shutdown), if it runs."""
        if self.pid is not None and alive(self.pid):
            self.run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")


@dataclass
class SharedServer:
    """The started MLflow server, its artifact store and its users."""

    server: Server
    artifacts: Path
    log: Path
    admin_password: str
    user_password: str

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is dead, only not yet reaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def request(
    url: str, path: str, body: dict[str, Any] | None = None, auth: tuple[str, str] | None = None
) -> tuple[int, str]:
    """GET (or POST ``body`` as JSON) with optional basic authentication: status and body."""
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(f"{url}{path}", data=data, headers=headers), timeout=30
        ) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def api(shared: SharedServer, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An authenticated REST call that must succeed; the decoded answer."""
    status, text = request(shared.url, path, body, auth=(USER, shared.user_password))
    assert status == 200, text
    return json.loads(text)


def documented_auth_config(repo: Path, port: int) -> str:
    """The ``basic_auth.ini`` of docs/tracking-server.md, on this test's PostgreSQL port."""
    doc = (repo / "docs/tracking-server.md").read_text()
    (ini,) = re.findall(r"```ini\n(.*?)```", doc, flags=re.S)
    assert "@127.0.0.1:5432/mlflow_auth" in ini and "admin_password" not in ini
    return ini.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/")


def store_rows(tiny: Path, sql: str) -> list[tuple]:
    """The rows of one query on the local (SQLite) store of the tiny run."""
    with contextlib.closing(sqlite3.connect(tiny / "results/mlflow/mlflow.db")) as db:
        return db.execute(sql).fetchall()


def by_run(rows: list[tuple]) -> dict[str, dict[str, Any]]:
    """(run name, key, value) rows as run name -> key -> value."""
    table: dict[str, dict[str, Any]] = {}
    for run, key, value in rows:
        table.setdefault(run, {})[key] = value
    return table


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """PostgreSQL with the databases ``mlflow`` and ``mlflow_auth`` of the role ``mlflow``."""
    bindir, prefix = postgres_bindir(), owner_prefix()
    require(bindir is not None and prefix is not None, ENABLE)
    assert bindir is not None and prefix is not None
    root = Path(tempfile.mkdtemp(prefix="mlhep-pg-"))
    if prefix:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = Postgres(bindir, prefix, root, free_port())
    try:
        cluster.start()
        with contextlib.closing(cluster.connect()) as db:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute("CREATE ROLE mlflow LOGIN PASSWORD %s", (cluster.password,))
                cursor.execute("CREATE DATABASE mlflow OWNER mlflow")
                cursor.execute("CREATE DATABASE mlflow_auth OWNER mlflow")
        yield cluster
        # after the module's last test, whatever the order: PostgreSQL stops, leaving nothing
        processes = [p.pid for p in cluster.processes()]
        assert len(processes) >= 2  # postmaster and its helpers
        cluster.stop()
        deadline = time.monotonic() + 30
        while any(alive(p) for p in processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in processes if alive(p)]
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def shared(
    repo: Path, postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedServer]:
    """``mlflow server`` on PostgreSQL with basic auth, and the user ``alice`` added by the
    admin. Every secret reaches the server through its environment."""
    base = tmp_path_factory.mktemp("shared-server")
    config = base / "basic_auth.ini"
    config.write_text(documented_auth_config(repo, postgres.port))
    port = free_port()
    command = server_command(
        f"postgresql://mlflow@127.0.0.1:{postgres.port}/mlflow",
        port=port,
        artifacts_destination=str(base / "artifacts"),
        app_name="basic-auth",
        workers=2,
    )
    admin_password, user_password = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    env = {
        "PGPASSWORD": postgres.password,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    log = base / "server.log"
    server = start_server(command, server_url("127.0.0.1", port), env=env, log=log)
    try:
        status, text = request(
            server.url,
            "/api/2.0/mlflow/users/create",
            {"username": USER, "password": user_password},
            auth=("admin", admin_password),
        )
        assert status == 200, text
        yield SharedServer(server, base / "artifacts", log, admin_password, user_password)
        # after the module's last test, whatever the order: the server's whole group stops
        processes = group_members(server.pgid)
        assert len(processes) >= 3  # launcher, uvicorn, its workers
        stop_server(server)
        assert group_members(server.pgid) == []
        assert not [p for p in processes if alive(p)]
        assert not is_healthy(server.url)
    finally:
        if group_members(server.pgid):
            stop_server(server)


#: The models of the tiny config that log to the shared server (every family of flavour:
#: sklearn, xgboost, pytorch); a third of the tiny run's jobs.
SERVER_MODELS = {"logistic": ["all"], "bdt": ["high"], "ann": ["high"]}


@pytest.fixture(scope="module")
def logged(repo: Path, shared: SharedServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory where the tiny config with :data:`SERVER_MODELS` ran on 2 cores,
    logging to the server as ``alice``: the credentials reach the jobs through the
    environment only."""
    workdir = tmp_path_factory.mktemp("tiny-shared")
    config = reduced_tiny_config(workdir / "server-tiny.yaml", SERVER_MODELS)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_USERNAME", USER)
        env.setenv("MLFLOW_TRACKING_PASSWORD", shared.user_password)
        proc = snakemake(
            repo,
            workdir,
            "--cores",
            "2",
            "--configfile",
            str(config),
            "--config",
            f'tracking={{"uri": "{shared.url}"}}',
        )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-20000:]
    return workdir


def test_requests_without_valid_credentials_are_refused(shared: SharedServer) -> None:
    path = "/api/2.0/mlflow/experiments/search?max_results=10"
    status, text = request(shared.url, path)
    assert status == 401 and text.startswith("You are not authenticated"), (status, text)
    assert request(shared.url, path, auth=(USER, "wrong-password"))[0] == 401
    assert request(shared.url, path, auth=(USER, shared.user_password))[0] == 200
    assert is_healthy(shared.url)  # health checks need no login
    # a user is no admin: adding users is refused
    body = {"username": "mallory", "password": secrets.token_urlsafe(16)}
    status, _ = request(
        shared.url, "/api/2.0/mlflow/users/create", body, (USER, shared.user_password)
    )
    assert status == 403


@pytest.mark.workflow
def test_every_run_arrived_in_postgres(logged: Path, postgres: Postgres, tiny: Path) -> None:
    """Runs, metrics and tags in the server's database match the local store's, run by run."""
    recorded = json.loads((logged / "results/mlflow/experiments.json").read_text())
    assert recorded["tracking_uri"].startswith("http://127.0.0.1:")
    remote = {row[1]: row for row in postgres.query(RUNS_SQL)}
    # the tiny run's runs in the same experiments (a run's name is unique in its experiment)
    experiments = {row[0] for row in remote.values()}
    local = {row[1]: row for row in store_rows(tiny, RUNS_SQL) if row[0] in experiments}
    assert len(remote) == len(postgres.query(RUNS_SQL)), "run names are unique"
    # one run per trained model, one for the limit and one per generalization point and
    # study (the study's parent run), each also in the full tiny run
    n_trained = sum(len(sets) for sets in SERVER_MODELS.values())
    n_studies = 2 * len(REDUCED_STUDIES)  # one point each
    assert set(remote) <= set(local) and len(remote) == n_trained + 1 + n_studies
    for name, (experiment, _, status, user, _) in remote.items():
        assert experiment == local[name][0] and status == "FINISHED", name
        assert user == USER, name  # the server records the authenticated user

    local_metrics = by_run(store_rows(tiny, METRICS_SQL))
    remote_metrics = by_run(postgres.query(METRICS_SQL))
    assert remote_metrics.keys() <= local_metrics.keys()
    for run, metrics in remote_metrics.items():
        assert metrics.keys() == local_metrics[run].keys(), run
        for key in [k for k in metrics if k == "auc" or k.endswith(".auc")]:
            # same seed, same events: the test AUC does not depend on where it is logged
            assert metrics[key] == pytest.approx(local_metrics[run][key], rel=1e-9), (run, key)
    local_tags = by_run(store_rows(tiny, TAGS_SQL))
    for run, tags in by_run(postgres.query(TAGS_SQL)).items():
        for key in ("snakemake_rule", "dataset", "model", "features"):
            assert tags.get(key) == local_tags[run].get(key), (run, key)
        assert len(tags["params_digest"]) == 64 and tags["git_commit"]


@pytest.mark.workflow
def test_every_model_is_stored_and_served_by_the_server(
    logged: Path, shared: SharedServer, postgres: Postgres, tiny: Path
) -> None:
    remote = postgres.query(MODELS_SQL)
    runs = {(r[4], r[0]) for r in remote}  # (experiment, run): names repeat across datasets
    local = sorted(row[:2] for row in store_rows(tiny, MODELS_SQL) if (row[4], row[0]) in runs)
    assert sorted(row[:2] for row in remote) == local
    assert len(local) == sum(len(sets) for sets in SERVER_MODELS.values())
    assert {row[2] for row in remote} == {2}  # READY
    assert all(row[3].startswith("mlflow-artifacts:/") for row in remote)  # server-chosen

    recorded = json.loads((logged / "results/mlflow/experiments.json").read_text())
    ids = [e["id"] for e in recorded["experiments"].values()]
    experiments = api(shared, "/api/2.0/mlflow/experiments/search", {"max_results": 100})
    locations = {e["experiment_id"]: e["artifact_location"] for e in experiments["experiments"]}
    assert all(locations[i] == f"mlflow-artifacts:/{i}" for i in ids)
    runs = api(shared, "/api/2.0/mlflow/runs/search", {"experiment_ids": ids, "max_results": 1000})
    assert len(runs["runs"]) == len(postgres.query(RUNS_SQL))
    models = api(
        shared, "/api/2.0/mlflow/logged-models/search", {"experiment_ids": ids, "max_results": 100}
    )["models"]
    assert len(models) == len(local)
    for model in models:
        model_id = model["info"]["model_id"]
        files = api(shared, f"/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories")
        assert "MLmodel" in {f["path"] for f in files["files"]}
    # the files are in the server's artifact store, nowhere in the work directory
    assert len(list(shared.artifacts.rglob("MLmodel"))) == len(local)
    assert not (logged / "results/mlflow/artifacts").exists()


@pytest.mark.workflow
def test_a_model_loads_back_through_the_server(
    logged: Path, shared: SharedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", shared.user_password)
    model_dir = logged / "results/models/dimuon/logistic/all"
    record = json.loads((model_dir / "train.json").read_text())
    model_id = record["model_uri"].removeprefix("models:/")
    # explicit URIs: the process-wide tracking URI may point elsewhere (other tests set it)
    location = mlflow.MlflowClient(tracking_uri=shared.url).get_logged_model(model_id)
    path = mlflow.artifacts.download_artifacts(
        location.artifact_location, dst_path=str(tmp_path), tracking_uri=shared.url
    )
    model = mlflow.sklearn.load_model(path)
    test = pd.read_parquet(logged / "results/splits/dimuon/test.parquet")
    predictions = pd.read_parquet(model_dir / "predictions.parquet")
    np.testing.assert_array_equal(
        model.decision_function(test[record["columns"]].astype(float)),
        predictions.loc[predictions.split == "test", "score"],
    )


@pytest.mark.workflow
def test_no_credentials_in_the_work_directory(logged: Path, shared: SharedServer) -> None:
    secret = shared.user_password.encode()
    leaked = [p for p in logged.rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert not leaked


TUNING_WORKER = """
import sys
import time
import numpy as np
import pandas as pd
from mlhep.studies import tuning
run_trial = tuning.run_trial
def slowed(*args, **kwargs):  # a trial of 0.1 s: neither worker can take them all alone
    time.sleep(0.5)
    return run_trial(*args, **kwargs)
tuning.run_trial = slowed
search = tuning.Search(**eval(sys.argv[1]))
worker = int(sys.argv[2])
rng = np.random.default_rng(5)
def frame(n):
    label = rng.integers(0, 2, n)
    return pd.DataFrame({"event_id": np.arange(n), "label": label, "weight": 1.0,
                         "a": rng.normal(0, 1, n) + label, "b": rng.normal(0, 1, n)})
splits = {"train": frame(2000), "validation": frame(1000)}
study = tuning.load_study(search, tuning.open_storage(search, "unused"), worker)
print("ready", flush=True)
sys.stdin.readline()  # both workers start their trials together
tuning.run_worker(search, study, worker, splits, 8)
"""


def test_two_workers_share_a_study_in_postgres(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracking server's PostgreSQL holds a search's study (``storage`` a database URL,
    the password from the environment): two worker processes draw their trials from it."""
    from mlhep.config import validate_config
    from mlhep.models.base import hyperparameters
    from mlhep.studies import tuning

    with contextlib.closing(postgres.connect()) as db:
        db.autocommit = True
        with db.cursor() as cursor:
            cursor.execute("CREATE DATABASE optuna OWNER mlflow")
    monkeypatch.setenv("PGPASSWORD", postgres.password)
    config: dict[str, Any] = {}
    validate_config(config)
    settings = hyperparameters(config["models"]["bdt"])
    settings.update(n_estimators=40, early_stopping_rounds=10)
    search = tuning.Search(
        dataset="toy",
        model="bdt",
        features="ab",
        columns=("a", "b"),
        settings=settings,
        space=config["studies"]["tuning"]["spaces"]["bdt"],
        storage=f"postgresql://mlflow@127.0.0.1:{postgres.port}/optuna",
        startup_trials=2,
    )
    tuning.create_study(search, tuning.open_storage(search, "unused"))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", TUNING_WORKER, repr(dict(vars(search))), str(k)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in (0, 1)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:  # both go at once
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = tuning.load_study(search, tuning.open_storage(search, "unused"))
    n = tuning.counts(study)
    # a race of the two workers' last asks may add one trial beyond the eight
    assert 8 <= n.get("COMPLETE", 0) + n.get("PRUNED", 0) <= 9 and set(n) <= {"COMPLETE", "PRUNED"}
    assert {t.user_attrs["worker"] for t in study.get_trials()} == {0, 1}
    (rows,) = postgres.query("SELECT count(*) FROM trials", dbname="optuna")
    assert rows[0] == len(study.get_trials())
