"""Shared fixtures: a tiny real model on planted data, the shared MovieLens folder, and the
databases the db, api and reliability suites run on (SQLite and a throwaway PostgreSQL).

``make test`` runs the suite on parallel pytest-xdist workers, one test file at a time each
(``--dist loadfile``): a file's module fixtures stay in one process. Every worker has its own
session fixtures (its own PostgreSQL cluster), except the read-only model folders, which one
worker trains and the others then read (``built_once``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.harness.postgres import PostgresCluster
from tests.synthetic import write_tiny_model

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "movielens"

#: The slowest files (a JVM, a browser, servers, model training), started first when the
#: workers share the files out, so that none of them is left to run alone at the end.
SLOWEST_FIRST = (
    "tests/spark/test_spark_train.py",
    "tests/learning/test_promote.py",
    "tests/e2e/test_trust.py",
    "tests/learning/test_retrain_cli.py",
    "tests/spark/test_item_item.py",
    "tests/spark/test_rounds.py",
    "tests/e2e/test_browser.py",
    "tests/reliability/test_security.py",
    "tests/api/test_abuse_limits.py",
    "tests/reliability/test_bad_input.py",
    "tests/reliability/test_faults.py",
    "tests/reliability/test_replicas.py",
    "tests/learning/test_learns.py",
)


def xdist_worker() -> str | None:
    """This process's pytest-xdist worker name (``gw0``...), None in a plain run."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test gets a node id of its own, and under xdist the slowest files go first (each
    file's own order is kept); a plain run keeps the collection order.

    schemathesis's ``schema.parametrize()`` gives every API operation's test the same node id
    (the operation is in the name only); xdist hands out tests by node id and ran one of them.
    Such tests take their name as the last part of their id, as a parametrized test has."""
    ids = Counter(item.nodeid for item in items)
    for item in items:
        if ids[item.nodeid] > 1 and not item.nodeid.endswith(f"::{item.name}"):
            assert item.parent is not None
            item._id = item.parent.id.child(item.name)  # pytest's own (private) node id
    if xdist_worker() is None:
        return
    rank = {path: k for k, path in enumerate(SLOWEST_FIRST)}

    def place(item: pytest.Item) -> int:
        return rank.get(item.nodeid.split("::", 1)[0], len(rank))

    items.sort(key=place)  # stable


class EveryTestReported:
    """On the xdist controller: a run in which a collected test produced no report (a worker
    that stopped early, a lost message) fails, naming the tests, instead of closing green
    with a smaller count."""

    def __init__(self) -> None:
        self.collected: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self.collected = Counter(ids)  # the same on every worker (xdist checks it)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":  # every test that ran has one, passed or not
            self.finished[report.nodeid] += 1

    def missing(self) -> list[str]:
        return sorted((self.collected - self.finished).elements())

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.missing() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        missing = self.missing()
        if missing:
            terminalreporter.write_line(
                f"{len(missing)} collected tests never reported a result:", red=True
            )
            for nodeid in missing:
                terminalreporter.write_line(f"  {nodeid}")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # not inside an xdist worker
        config.pluginmanager.register(EveryTestReported(), "every-test-reported")


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]
) -> Path:
    """``build(folder)`` for the whole run: under xdist the first worker builds it in the
    run's shared temporary folder, holding a file lock, and the others wait for it and read
    it. The result must be treated as read-only."""
    if xdist_worker() is None:
        return build(tmp_path_factory.mktemp(name) / "models")
    shared = tmp_path_factory.getbasetemp().parent
    folder, done = shared / name / "models", shared / f"{name}.done"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder.parent, ignore_errors=True)
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model directory trained on ``tests/synthetic.py``'s planted tastes.

    Movie ids: 1–20 Action, 101–120 Romance, 201–220 Comedy (lower ids more popular).
    Users who love action and hate romance get action films, and the reverse.
    Session-scoped and read-only: copy it (``tiny_model_copy``) before corrupting it.
    """
    return built_once(tmp_path_factory, "tiny", write_tiny_model)


@pytest.fixture
def tiny_model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model, safe to damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "models"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared MovieLens copies; tests that need them skip only when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present (real-data tests need ../shared)")
    return SHARED_DATA


#: The databases every ``database_url`` test runs on: the embedded default and PostgreSQL.
DATABASES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server for the whole session: a throwaway cluster on a free loopback
    port (``bench/harness/postgres.py``). Started on first use; fsync off, as durability of a
    throwaway cluster is not what the tests measure."""
    cluster = PostgresCluster(fsync=False).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in the test's folder, or a new PostgreSQL
    database on the session's cluster (dropped after the test). Tests taking it run once on
    each."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'cinematch.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.create_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For the tests of SQLite's own behaviour (its file, its lock, its pragmas)."""
    return f"sqlite:///{tmp_path / 'db' / 'cinematch.db'}"
