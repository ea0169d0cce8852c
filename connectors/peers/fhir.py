"""A real HAPI FHIR R4 server on loopback (fhirserver/FhirServer.java): jars from Maven Central into
.cache/fhirserver-<version>/libs on first use (mvn), the source compiled there with javac, then
`java` started with a token endpoint in front when client keys are given.

    server = FhirServerProcess.start(run_dir, client_id="handoff", client_keys=[pub_pem], process_message=True)
    server.base      # http://127.0.0.1:<port>/fhir
    server.token_url # http://127.0.0.1:<port>/token
    server.stop()
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent / "fhirserver"
ROOT = HERE.parents[2]
POM = HERE / "pom.xml"
VERSION = re.search(r"<hapi.version>([^<]+)</hapi.version>", POM.read_text()).group(1)
PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class Unavailable(RuntimeError):
    """The server cannot run here (no Java, no Maven, jars not fetched): the reason says which."""


def classpath(cache: Path = ROOT / ".cache") -> str:
    """The server's classpath, fetching the jars and compiling the source when needed."""
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} is not installed (apt-get install openjdk-17-jdk-headless)")
    home = cache / f"fhirserver-{VERSION}"
    libs, classes = home / "libs", home / "classes"
    if not (libs / ".complete").exists():
        if shutil.which("mvn") is None:
            raise Unavailable("Maven (mvn) is needed once to fetch the HAPI FHIR server jars")
        shutil.rmtree(libs, ignore_errors=True)
        libs.mkdir(parents=True)
        done = subprocess.run(["mvn", "-B", "-q", "-f", str(POM), f"{PLUGIN}:copy-dependencies",
                               "-DincludeScope=runtime", f"-DoutputDirectory={libs}"],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0 or not list(libs.glob("hapi-fhir-server-*.jar")):
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            raise Unavailable(f"could not fetch the HAPI FHIR {VERSION} server jars: {tail}")
        (libs / ".complete").write_text(VERSION)
    source = HERE / "FhirServer.java"
    compiled = classes / "FhirServer.class"
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        classes.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["javac", "-d", str(classes), "-cp", f"{libs}/*", str(source)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise Unavailable("FhirServer.java did not compile: " + done.stderr.strip().splitlines()[-1])
    return f"{classes}:{libs}/*"


@dataclass
class FhirServerProcess:
    process: subprocess.Popen
    port: int
    start_seconds: float
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @classmethod
    def start(cls, run_dir: Path, client_id: str = "", client_keys: list[Path] = (), process_message: bool = False,
              token_seconds: int = 300, timeout: float = 120.0) -> "FhirServerProcess":
        cp = classpath()
        run_dir.mkdir(parents=True, exist_ok=True)
        log = run_dir / "fhir-server.out"
        args = ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", cp, "FhirServer", "--port", "0",
                "--token-seconds", str(token_seconds)]
        if process_message:
            args.append("--process-message")
        if client_id:
            args += ["--client", client_id]
            for key in client_keys:
                args += ["--client-key", str(key)]
        started = time.monotonic()
        with log.open("wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=run_dir)
        while time.monotonic() - started < timeout:
            found = re.search(r"READY (\d+)", log.read_text(errors="replace"))
            if found:
                return cls(process, int(found.group(1)), time.monotonic() - started, log)
            if process.poll() is not None:
                raise Unavailable(f"the FHIR server exited ({process.returncode}): {log.read_text()[-300:]}")
            time.sleep(0.2)
        process.kill()
        raise Unavailable(f"the FHIR server did not start within {timeout:.0f} s (log: {log})")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
