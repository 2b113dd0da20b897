"""A throwaway PostgreSQL cluster on 127.0.0.1, for the tests and the load benchmark.

``PostgresCluster`` runs Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/*/bin``) in
a temporary folder, on a free loopback port, with trust authentication for local connections
only; ``stop()`` shuts it down and nothing outlives the folder. PostgreSQL refuses to run as
root, so as root the cluster runs as the ``postgres`` system user (Debian's package makes it).
Nothing here is a mock: it is the server a host's managed PostgreSQL would be.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from bench.harness.api_server import HOST, free_port

BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed (``apt-get install postgresql``)."""


def server_bin() -> Path:
    """The newest installed PostgreSQL server's bin folder."""
    found = sorted(glob.glob(BIN_GLOB), key=lambda p: int(Path(p).parent.name.split(".")[0]))
    if not found or not (Path(found[-1]) / "initdb").is_file():
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; "
            "install Debian's package: apt-get install postgresql"
        )
    return Path(found[-1])


class PostgresCluster:
    """``initdb`` + ``pg_ctl start`` in ``root`` (a new temporary folder when None)."""

    def __init__(self, root: Path | None = None, *, fsync: bool = True) -> None:
        self.bin = server_bin()
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="cinematch-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.fsync = fsync
        self._names = itertools.count(1)
        self._user: str | None = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        kwargs = {}
        if self._user is not None:
            kwargs = {"user": self._user, "group": pwd.getpwnam(self._user).pw_gid}
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True, text=True, cwd=self.root, check=False, **kwargs,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip() or result.stdout}")

    def start(self) -> PostgresCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = (
            f"-c listen_addresses={HOST} -c port={self.port} "
            f"-c unix_socket_directories='{self.root}' -c max_connections=200 "
            f"-c fsync={'on' if self.fsync else 'off'}"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = name or f"cinematch_{next(self._names)}"
        with psycopg.connect(
            f"host={HOST} port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database``, closing whatever still uses it (each
        database copies its template's ~1,000 files: a session of tests keeps few)."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(
            f"host={HOST} port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
