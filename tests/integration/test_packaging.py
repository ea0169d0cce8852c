"""The wheel is the product: built from this tree, installed non-editable into a fresh
venv, and run from a directory outside the source tree.

Fast variant (CI): the wheel goes in with --no-deps and the fresh venv borrows the
third-party packages of the running venv through a .pth line (`pip check` then proves
the wheel's declared requirements are met by them). `handoff`, `pipeline` and
`connectors` come only from the wheel: the running venv's editable hook is a .pth file
that is not processed there. The `long` variant resolves every dependency from the
package index into an isolated venv (about two minutes here).
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    for module in ("handoff.cli", "pipeline.cli"):  # the entry layer moves to handoff/ (HELPERS.md)
        try:
            return [name for name, _ in importlib.import_module(module).COMMANDS]
        except (ImportError, AttributeError):
            continue
    raise AssertionError("no command table (COMMANDS) in handoff.cli or pipeline.cli")


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDOFF_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("handoff-*.whl")
    return path


def test_the_wheel_carries_the_catalogue_schemas_and_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tree = {str(p.relative_to(ROOT)) for p in (ROOT / "pipeline" / "schemas").rglob("*") if p.is_file()}
    assert "pipeline/schemas/topics.yaml" in tree and len(tree) > 10
    assert tree <= names, f"missing from the wheel: {sorted(tree - names)[:5]}"
    for data in ("pipeline/storage/migrations", "pipeline/consent/policy.yaml", "pipeline/route/rules.yaml",
                 "pipeline/kafka/acls.yaml"):
        assert any(n.startswith(data) for n in names), data
    assert not any(n.startswith(("tests/", "deploy/", "schemas/")) for n in names)


def _installed_and_run(venv: Path, cwd: Path) -> None:
    code = "import pipeline.topics, connectors; print(*pipeline.__path__, pipeline.topics.__file__, connectors.__file__)"
    where = _run(venv, "python", "-c", code, cwd=cwd)
    assert where.returncode == 0, where.stderr
    assert all(p.startswith(str(venv)) for p in where.stdout.split()), where.stdout  # not the source tree

    listed = _run(venv, "handoff", "topics", "list", cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    assert "handoff.ems.run.v1" in listed.stdout and "handoff.delivery.v1" in listed.stdout
    checked = _run(venv, "handoff", "schemas", "check", cwd=cwd)
    assert checked.returncode == 0 and "fully compatible" in checked.stdout, checked.stderr
    # the CLI imports every command's module at start-up, so one --help proves they all load
    helps = [["--help"]] + ([["worker", "--help"]] if "worker" in _commands() else [])
    for args in helps:
        shown = _run(venv, "handoff", *args, cwd=cwd)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, (args, shown.stderr[-800:])
    # the default data directory is the working directory's .run/, not site-packages
    defaults = _run(venv, "python", "-c", "from pipeline.settings import Settings; s = Settings(); "
                    "print(s.storage.url); print(s.kafka.embedded_run_dir.resolve())", cwd=cwd)
    url, run_dir = defaults.stdout.split()
    assert url == "sqlite:///.run/handoff.db" and run_dir == str(cwd / ".run" / "broker"), defaults.stdout
    assert not list(venv.rglob(".run")), "something wrote into the venv"


def test_the_installed_wheel_runs_outside_the_source_tree(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = Path(subprocess.check_output([venv / "bin" / "python", "-c",
                                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = _run(venv, "python", "-m", "pip", "install", "-q", "--no-deps", "--no-compile", str(wheel), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (site / "pipeline" / "schemas" / "topics.yaml").exists()
    deps = _run(venv, "python", "-m", "pip", "check", cwd=tmp_path)
    assert deps.returncode == 0, deps.stdout + deps.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _installed_and_run(venv, elsewhere)


@pytest.mark.long
def test_the_wheel_installs_with_its_declared_dependencies_only(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = _run(venv, "python", "-m", "pip", "install", "-q", str(wheel), cwd=tmp_path)  # the pip cache is reused
    assert done.returncode == 0, done.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _installed_and_run(venv, elsewhere)
