"""The embedded default broker: a real Apache Kafka 4.x (KRaft, single node) on 127.0.0.1.

Jars come from Maven Central through deploy/kafka/pom.xml into .cache/kafka-<version>/libs
(one folder per version, reused with no network on a second start). `EmbeddedBroker`
formats fresh storage (`wipe=True`), or starts again on the data a previous start left
(same cluster id, ports and topics: `wipe=False`, what `handoff broker start` does unless
`--wipe`), starts the JVM with its output in a file (never an undrained pipe), waits until
the broker answers with its cluster id, and stops it with SIGTERM (Kafka's shutdown hook)
and then SIGKILL after a grace period. `stop()` may be called from another thread while
`start()` is still under way (a signal during start-up): no JVM is left behind.

Used by `make run`, the test fixtures (one broker per session) and CI.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
POM = ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J = ROOT / "deploy" / "kafka" / "log4j2.properties"
# 4.1.1: the newest 4.x line whose build files (log4j2 2.24.3, kafka-server bringing
# log4j-api/core) were checked for ../shared/KAFKA.md, and a 4.x broker that aiokafka 0.14
# and faust-streaming 0.12+ are reported to run against. Change with the pom together.
KAFKA_VERSION = "4.1.1"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class BrokerError(RuntimeError):
    pass


def jars(version: str = KAFKA_VERSION, cache: Path = ROOT / ".cache") -> Path:
    """The broker's classpath folder, resolved from Maven Central on first use only."""
    libs = cache / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if not marker.exists():
        if shutil.which("mvn") is None:
            raise BrokerError("Maven (mvn) is needed once to fetch the Kafka jars; install maven")
        shutil.rmtree(libs, ignore_errors=True)
        libs.mkdir(parents=True)
        cmd = ["mvn", "-B", "-q", "-f", str(POM), f"-Dkafka.version={version}",
               f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies", "-DincludeScope=runtime",
               f"-DoutputDirectory={libs}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            raise BrokerError("could not resolve the Kafka jars: " + " | ".join(tail))
        _check_jars(libs, version)
        marker.write_text(version)
    return libs


def _check_jars(libs: Path, version: str) -> None:
    core = libs / f"kafka_2.13-{version}.jar"
    if not core.exists():
        raise BrokerError(f"{core.name} missing from {libs}")
    with zipfile.ZipFile(core) as jar:
        names = set(jar.namelist())
        for cls in ("kafka/Kafka.class", "kafka/tools/StorageTool.class"):
            if cls not in names:
                raise BrokerError(f"{cls} not in {core.name}")
        major = int.from_bytes(jar.read("kafka/Kafka.class")[6:8], "big")
    if major > 61:
        raise BrokerError(f"{core.name} needs class-file version {major}; Java 17 reads 61")
    if not list(libs.glob("log4j-slf4j-impl-*.jar")):
        raise BrokerError("the log4j-slf4j-impl binding is missing: the broker would log nothing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_id() -> str:
    while True:  # Kafka's Uuid.randomUuid never starts with '-'
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


@dataclass
class BrokerInfo:
    bootstrap: str
    cluster_id: str
    pid: int
    start_seconds: float
    rss_mib: float
    version: str = KAFKA_VERSION


class EmbeddedBroker:
    def __init__(self, run_dir: Path, version: str = KAFKA_VERSION, heap: str = "512m",
                 port: int | None = None, timeout: float = 60.0, wipe: bool = True, *,
                 listener: str = "PLAINTEXT", properties: str = "", format_args: tuple[str, ...] = (),
                 client_options: dict | None = None) -> None:
        """`listener` names the client listener's protocol (SASL_SSL for a secured broker); `properties`
        are appended to server.properties (they win over the defaults: TLS stores, SASL, the
        authorizer); `format_args` go to the storage format (`--add-scram …`); `client_options`
        (aiokafka's) are how the readiness check connects."""
        self.listener = listener
        self.properties = properties
        self.format_args = tuple(format_args)
        self.client_options = client_options or {}
        self.run_dir = Path(run_dir)
        self.version = version
        self.heap = heap
        self.port = port
        self.timeout = timeout
        self.wipe = wipe
        self.proc: subprocess.Popen | None = None
        self.info: BrokerInfo | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> BrokerInfo:
        began = time.monotonic()
        classpath = f"{jars(self.version)}/*"
        props = self.run_dir / "server.properties"
        kept = _kept(self.run_dir) if not self.wipe else None
        if kept is None:
            if self.run_dir.exists():
                shutil.rmtree(self.run_dir)
            (self.run_dir / "data").mkdir(parents=True)
        port, controller = self.port or (kept or {}).get("port") or free_port(), \
            (kept or {}).get("controller") or free_port()
        props.write_text(_server_properties(port, controller, self.run_dir / "data", self.listener) + self.properties)
        out = open(self.run_dir / "broker.out", "ab")
        if kept is None:
            cid = cluster_id()
            fmt = subprocess.run(
                ["java", "-Xmx256m", f"-Dlog4j2.configurationFile={LOG4J}", "-cp", classpath,
                 "kafka.tools.StorageTool", "format", "-t", cid, "-c", str(props), *self.format_args],
                stdout=out, stderr=subprocess.STDOUT)
            if fmt.returncode != 0:
                raise BrokerError(f"storage format failed (rc={fmt.returncode}); see {out.name}")
        else:
            cid = kept["cluster_id"]
        with self._lock:  # stop() from another thread: either before this (no JVM) or after (it stops it)
            if self._stopped:
                raise BrokerError("stopped during start-up")
            self.proc = subprocess.Popen(
                ["java", "-Xms256m", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                 "-Djava.awt.headless=true", f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
                 f"-Dlog4j2.configurationFile={LOG4J}", "-cp", classpath, "kafka.Kafka", str(props)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            proc = self.proc
        bootstrap = f"127.0.0.1:{port}"
        try:
            asyncio.run(self._wait_ready(proc, bootstrap, cid))
        except BaseException:
            self.stop()
            raise
        self.info = BrokerInfo(bootstrap, cid, proc.pid, time.monotonic() - began, _rss_mib(proc.pid), self.version)
        (self.run_dir / "bootstrap").write_text(bootstrap)
        return self.info

    async def _wait_ready(self, proc: subprocess.Popen, bootstrap: str, cid: str) -> None:
        deadline = time.monotonic() + self.timeout
        quiet = logging.getLogger("aiokafka")
        level, quiet.level = quiet.level, logging.CRITICAL  # "connection refused" is expected here
        try:
            await self._poll_ready(proc, bootstrap, cid, deadline)
        finally:
            quiet.setLevel(level)

    async def _poll_ready(self, proc: subprocess.Popen, bootstrap: str, cid: str, deadline: float) -> None:
        last = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(f"broker exited rc={proc.returncode}; see {self.run_dir / 'broker.out'}")
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **self.client_options)
            try:
                await admin.start()
                cluster = await admin.describe_cluster()
                if cluster["brokers"] and cluster["cluster_id"] == cid:
                    return
                last = f"cluster id {cluster['cluster_id']} is not ours ({cid})"
            except Exception as e:  # not up yet: connection refused, no controller, ...
                last = repr(e)
            finally:
                await admin.close()
            await asyncio.sleep(0.3)
        raise BrokerError(f"Kafka not ready after {self.timeout:.0f}s: {last}")

    def stop(self, grace: float = 30.0) -> None:
        with self._lock:
            self._stopped = True
            proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> BrokerInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kept(run_dir: Path) -> dict | None:
    """What a previous start left to start again on: cluster id and ports (None: nothing usable)."""
    meta, props = run_dir / "data" / "meta.properties", run_dir / "server.properties"
    if not (meta.exists() and props.exists()):
        return None
    values = dict(line.split("=", 1) for line in (meta.read_text() + props.read_text()).splitlines()
                  if "=" in line and not line.startswith("#"))
    ports = {name: int(values[key].rsplit(":", 1)[1]) for name, key in
             (("port", "advertised.listeners"), ("controller", "controller.quorum.voters")) if key in values}
    return {"cluster_id": values["cluster.id"], **ports} if "cluster.id" in values else None


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _server_properties(port: int, controller: int, data: Path, listener: str = "PLAINTEXT") -> str:
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners={listener}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners={listener}://127.0.0.1:{port}
inter.broker.listener.name={listener}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,{listener}:{listener}
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
"""
