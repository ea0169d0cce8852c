"""A small Java program on jars from Maven Central: the jars resolved once into a cache directory
with `mvn dependency:copy-dependencies` from a POM, the source compiled there with javac."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class Unavailable(RuntimeError):
    """It cannot run here (no Java, no Maven, jars not fetched, no compile): the reason says which."""


def classpath(pom: Path, home: Path, expect: str, source: Path, what: str) -> str:
    """`classes:libs/*` under `home`, fetching the jars (until one matches `expect`) and compiling
    `source` when it is newer than its class."""
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} is not installed (apt-get install openjdk-17-jdk-headless)")
    libs, classes = home / "libs", home / "classes"
    if not (libs / ".complete").exists():
        if shutil.which("mvn") is None:
            raise Unavailable(f"Maven (mvn) is needed once to fetch the {what} jars")
        shutil.rmtree(libs, ignore_errors=True)
        libs.mkdir(parents=True)
        done = subprocess.run(["mvn", "-B", "-q", "-f", str(pom), f"{PLUGIN}:copy-dependencies",
                               "-DincludeScope=runtime", f"-DoutputDirectory={libs}"],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0 or not list(libs.glob(expect)):
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            raise Unavailable(f"could not fetch the {what} jars: {tail}")
        (libs / ".complete").write_text(what)
    compiled = classes / (source.stem + ".class")
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        classes.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["javac", "-d", str(classes), "-cp", f"{libs}/*", str(source)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise Unavailable(f"{source.name} did not compile: " + done.stderr.strip().splitlines()[-1])
    return f"{classes}:{libs}/*"
