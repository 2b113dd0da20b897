"""A throwaway Spark standalone cluster on 127.0.0.1: one master, N workers, and spark-submit.

It runs the ``pyspark`` package's own launcher (``pyspark/bin/spark-class``) with the host's
Java 17 (Debian's ``openjdk-17-jre-headless``), so the job is submitted to a real master and
runs in executors on separate worker JVMs, as on any standalone, Kubernetes or YARN cluster;
only the machines are one. Ports are free loopback ports; ``stop()`` ends the processes this
object started (by their ids) and nothing outlives its folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.harness.api_server import HOST, free_port

#: Debian's Java 17, used when JAVA_HOME is not set (Spark 4 runs on Java 17 or 21).
DEBIAN_JAVA_17 = Path("/usr/lib/jvm/java-17-openjdk-amd64")
REPO = Path(__file__).resolve().parents[2]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def spark_env() -> dict[str, str]:
    """The environment the Spark launchers need: Java 17, loopback only, this Python."""
    env = dict(os.environ)
    if "JAVA_HOME" not in env and DEBIAN_JAVA_17.is_dir():
        env["JAVA_HOME"] = str(DEBIAN_JAVA_17)
    env.update(SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP=HOST, PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    return env


def ml_package_zip(target: Path) -> Path:
    """The ``ml`` package as a zip for ``--py-files``: how a cluster's executors get it."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted((REPO / "ml").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(REPO))
    return target


class SparkStandalone:
    """``with SparkStandalone(workers=2) as cluster: cluster.submit([...])``."""

    def __init__(self, workers: int = 2, cores: int = 1, memory: str = "768m") -> None:
        self.workers, self.cores, self.memory = workers, cores, memory
        self.folder = Path(tempfile.mkdtemp(prefix="cinematch-spark-cluster."))
        self.port = free_port()
        self.url = f"spark://{HOST}:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []

    def _launch(self, name: str, args: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args], stdout=log,
            stderr=subprocess.STDOUT, env=spark_env(), cwd=self.folder))

    def start(self, timeout: float = 120.0) -> SparkStandalone:
        self._launch("master", ["org.apache.spark.deploy.master.Master", "--host", HOST,
                                "--port", str(self.port), "--webui-port", str(free_port())])
        for k in range(self.workers):
            work = self.folder / f"worker-{k}"
            work.mkdir()
            self._launch(f"worker-{k}", [
                "org.apache.spark.deploy.worker.Worker", self.url, "--host", HOST,
                "--cores", str(self.cores), "--memory", self.memory,
                "--webui-port", str(free_port()), "--work-dir", str(work)])
        deadline = time.monotonic() + timeout
        master_log = self.folder / "master.log"
        while time.monotonic() < deadline:
            text = master_log.read_text(errors="replace") if master_log.exists() else ""
            if len(re.findall(r"Registering worker", text)) >= self.workers:
                return self
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.5)
        logs = "\n".join(p.read_text(errors="replace")[-2000:]
                         for p in sorted(self.folder.glob("*.log")))
        self.stop()
        raise RuntimeError(f"the Spark cluster did not start:\n{logs}")

    def submit(self, script: Path, args: list[str], py_files: Path | None = None,
               executor_memory: str = "512m", timeout: float = 900.0,
               ) -> subprocess.CompletedProcess[str]:
        """spark-submit ``script`` to this master (client mode: the driver runs here)."""
        command = [str(spark_home() / "bin" / "spark-submit"), "--master", self.url,
                   "--deploy-mode", "client", "--executor-memory", executor_memory,
                   "--total-executor-cores", str(self.workers * self.cores),
                   "--conf", f"spark.pyspark.python={sys.executable}",
                   "--conf", "spark.ui.enabled=false"]
        if py_files is not None:
            command += ["--py-files", str(py_files)]
        return subprocess.run([*command, str(script), *args], capture_output=True, text=True,
                              env=spark_env(), timeout=timeout, cwd=self.folder, check=False)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> SparkStandalone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
