"""The import contracts in pyproject.toml ([tool.importlinter]), run as `make lint` runs them.

The layers: handoff (entry) > connectors (edges) > pipeline (core), and no cycles between the
modules of any package. The same contracts, given a tree that breaks each, must say so: a check
that cannot fail proves nothing.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _contracts() -> str:
    """The [tool.importlinter] tables of the project's pyproject.toml, as text."""
    text = (ROOT / "pyproject.toml").read_text()
    start = text.index("[tool.importlinter]")
    rest = text[start:]
    other = re.search(r"^\[(?!\[?tool\.importlinter)", rest, re.M)
    return rest[:other.start()] if other else rest


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_project_keeps_its_layers_and_has_no_cycles():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_contracts_catch_a_core_importing_an_edge_and_a_cycle(tmp_path):
    files = {
        "handoff/__init__.py": "", "handoff/cli.py": "import connectors.edge\n",
        "connectors/__init__.py": "", "connectors/edge.py": "import pipeline.records\n",
        "pipeline/__init__.py": "", "pipeline/records.py": "",
        "pipeline/render.py": "import connectors.edge\nimport pipeline.consent\n",
        "pipeline/consent.py": "def f():\n    import pipeline.render\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "pyproject.toml").write_text(_contracts())
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "pipeline.render -> connectors.edge" in result.stdout
    assert "No cycles are allowed in pipeline." in result.stdout
    assert "Contracts: 0 kept, 2 broken." in result.stdout
