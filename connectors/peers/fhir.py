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
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from connectors.peers import java
from connectors.peers.java import Unavailable

__all__ = ["FhirServerProcess", "Unavailable", "classpath"]

HERE = Path(__file__).resolve().parent / "fhirserver"
ROOT = HERE.parents[2]
POM = HERE / "pom.xml"
VERSION = re.search(r"<hapi.version>([^<]+)</hapi.version>", POM.read_text()).group(1)


def classpath(cache: Path = ROOT / ".cache") -> str:
    """The server's classpath, fetching the jars and compiling the source when needed."""
    return java.classpath(POM, cache / f"fhirserver-{VERSION}", "hapi-fhir-server-*.jar", HERE / "FhirServer.java",
                          f"HAPI FHIR {VERSION} server")


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
