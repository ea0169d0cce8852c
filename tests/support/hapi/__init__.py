"""HAPI FHIR's R4 instance validator for tests: jars from Maven Central into .cache/hapi-<version>/,
Validate.java compiled there with javac. `validate(paths)` -> list of (file, severity, location, text),
or raises Unavailable with the reason (the test skips with it)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
POM = HERE / "pom.xml"
VERSION = re.search(r"<hapi.version>([^<]+)</hapi.version>", POM.read_text()).group(1)
CACHE = ROOT / ".cache" / f"hapi-{VERSION}"
PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class Unavailable(RuntimeError):
    pass


def classpath() -> str:
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} is not installed (apt-get install openjdk-17-jdk-headless)")
    libs, classes = CACHE / "libs", CACHE / "classes"
    if not (libs / ".complete").exists():
        if shutil.which("mvn") is None:
            raise Unavailable("Maven (mvn) is needed once to fetch the HAPI FHIR validator jars")
        shutil.rmtree(libs, ignore_errors=True)
        libs.mkdir(parents=True)
        done = subprocess.run(["mvn", "-B", "-q", "-f", str(POM), f"{PLUGIN}:copy-dependencies",
                               "-DincludeScope=runtime", f"-DoutputDirectory={libs}"],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0 or not list(libs.glob("hapi-fhir-validation-*.jar")):
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            raise Unavailable(f"could not fetch the HAPI FHIR {VERSION} jars: {tail}")
        (libs / ".complete").write_text(VERSION)
    source = HERE / "Validate.java"
    compiled = classes / "Validate.class"
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        classes.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["javac", "-d", str(classes), "-cp", f"{libs}/*", str(source)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise Unavailable("Validate.java did not compile: " + done.stderr.strip().splitlines()[-1])
    return f"{classes}:{libs}/*"


def validate(paths: list[Path]) -> list[tuple[str, str, str, str]]:
    done = subprocess.run(["java", "-cp", classpath(), "Validate", *map(str, paths)], capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError("the HAPI validator failed: " + (done.stderr.strip().splitlines() or ["?"])[-1])
    rows = [tuple(line.split("\t", 3)) for line in done.stdout.splitlines() if line.count("\t") >= 3]
    return [(Path(f).name, sev, loc, text) for f, sev, loc, text in rows]
