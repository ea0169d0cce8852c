"""`classify` and `evaluate`: one JSON object per record, refusals on stderr with a non-zero exit."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from handoff.commands.detect import classify_files, cli
from handoff.errors import EXIT_REFUSED
from pipeline.detect.corpus.generate import generate


def _corpus_file(tmp_path, n=40):
    path = tmp_path / "sample.jsonl"
    lines = [json.dumps(line) for _, line in zip(range(n), generate("heldout"))]
    path.write_text("\n".join(lines) + "\n")
    return path, [json.loads(x) for x in lines]


def test_classify_files_outputs_the_contract(tmp_path):
    path, lines = _corpus_file(tmp_path)
    rows = list(classify_files([path]))
    assert len(rows) == len(lines)
    for row, line in zip(rows, lines):
        assert set(row) == {"source", "record_id", "categories", "evidence", "rules_version"}
        if "record" in line:
            assert row["record_id"] == line["record"]["pcr_number"]
        else:
            assert row["record_id"] and row["record_id"] in json.dumps(line["raw"])
        assert row["source"] == str(path)
        assert all(set(e) <= {"category", "rule_id", "field", "code", "start", "end"} for e in row["evidence"])
        assert {e["category"] for e in row["evidence"]} >= set(row["categories"])
    assert any(row["categories"] for row in rows) and any(not row["categories"] for row in rows)


def test_classify_command_refuses_without_echoing_contents(tmp_path):
    good, _ = _corpus_file(tmp_path, 3)
    bad = tmp_path / "bad.xml"
    bad.write_text("<secret>Jane Doe overdosed</secret>")
    result = CliRunner().invoke(cli, ["classify", str(good), str(bad)])
    assert result.exit_code == EXIT_REFUSED
    assert len([line for line in result.stdout.splitlines() if line.startswith("{")]) == 3
    assert "Jane" not in result.output and "bad.xml" in result.output


def test_evaluate_command_prints_rules_and_baseline(tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", "--part", "tuning", "--cases", "3"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "codes-only F1" in out and "keywords F1" in out and "opioid_overdose" in out
    assert all(f"tuning, {label} only" in out for label in ("ePCR", "EIDO", "CAD export"))


def test_installed_evaluate_prints_per_source_tables_and_both_baselines():
    """What a person runs: the console script in a subprocess, on the fresh part."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([str(Path(sys.executable).parent / "handoff"), "evaluate", "--part", "fresh", "--cases", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for title in ("== fresh (1500 records)", "-- fresh, ePCR only", "-- fresh, EIDO only", "-- fresh, CAD export only"):
        assert title in done.stdout
    header = next(line for line in done.stdout.splitlines() if line.startswith("category"))
    assert header.split()[1:] == ["rules", "P", "R", "F1", "codes-only", "F1", "keywords", "F1", "support"]
