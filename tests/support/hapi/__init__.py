"""HAPI FHIR's R4 instance validator for tests: jars from Maven Central into .cache/hapi-<version>/,
Validate.java compiled there with javac. `validate(paths)` -> list of (file, severity, location, text),
or raises Unavailable with the reason (the test skips with it)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from connectors.peers import java
from connectors.peers.java import Unavailable

__all__ = ["Unavailable", "classpath", "validate"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
POM = HERE / "pom.xml"
VERSION = re.search(r"<hapi.version>([^<]+)</hapi.version>", POM.read_text()).group(1)
CACHE = ROOT / ".cache" / f"hapi-{VERSION}"


def classpath() -> str:
    return java.classpath(POM, CACHE, "hapi-fhir-validation-*.jar", HERE / "Validate.java",
                          f"HAPI FHIR {VERSION} validator")


def validate(paths: list[Path]) -> list[tuple[str, str, str, str]]:
    done = subprocess.run(["java", "-cp", classpath(), "Validate", *map(str, paths)], capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError("the HAPI validator failed: " + (done.stderr.strip().splitlines() or ["?"])[-1])
    rows = [tuple(line.split("\t", 3)) for line in done.stdout.splitlines() if line.count("\t") >= 3]
    return [(Path(f).name, sev, loc, text) for f, sev, loc, text in rows]
