"""deploy/monitoring: the alert rules pass promtool (syntax and their own unit tests), the Grafana
dashboard and its provisioning fit together, and every metric they name is one a service exports."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
MON = ROOT / "deploy" / "monitoring"
EXPORTED_FROM = [ROOT / "pipeline" / "metrics.py", ROOT / "pipeline" / "monitor.py",
                 ROOT / "connectors" / "edge" / "commit.py"]


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is absent: apt-get install prometheus (.ci/run installs it)")
    return tool


def test_alert_rules_pass_promtool_check_and_their_unit_tests():
    tool = _promtool()
    check = subprocess.run([tool, "check", "rules", "alerts.yml"], cwd=MON, capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 7 rules found" in check.stdout, check.stdout + check.stderr
    test = subprocess.run([tool, "test", "rules", "alerts_test.yml"], cwd=MON, capture_output=True, text=True)
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_a_broken_rule_is_refused_by_promtool(tmp_path):
    tool = _promtool()
    broken = tmp_path / "broken.yml"
    broken.write_text("groups: [{name: x, rules: [{alert: X, expr: 'sum by (stage (x)'}]}]\n")
    assert subprocess.run([tool, "check", "rules", str(broken)], capture_output=True).returncode != 0


def test_the_alerts_cover_what_the_issue_names():
    rules = {r["alert"]: r["expr"] for g in yaml.safe_load((MON / "alerts.yml").read_text())["groups"]
             for r in g["rules"]}
    for alert, metric in [("HandoffConsumerLagGrowing", "handoff_consumer_lag"),
                          ("HandoffDeadLetters", "handoff_stage_dead_lettered_total"),
                          ("HandoffOldHold", "handoff_oldest_hold_age_seconds"),
                          ("HandoffDeliveryFailures", "handoff_stage_retries_total"),
                          ("HandoffAuditNotSealed", "handoff_audit_oldest_unsealed_age_seconds")]:
        assert metric in rules[alert]


def _exported() -> set[str]:
    names = set()
    for path in EXPORTED_FROM:
        for name in re.findall(r'"(handoff_[a-z_]+)"', path.read_text()):
            names |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def _metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\b(handoff_[a-z_]+)\b", expr))


def test_the_dashboard_and_the_rules_name_only_exported_metrics_and_provisioning_fits():
    exported = _exported()
    dashboard = json.loads((MON / "grafana" / "dashboards" / "handoff-it.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = [r["expr"] for g in yaml.safe_load((MON / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    unknown = {m for e in exprs + rules for m in _metrics_in(e)} - exported
    assert not unknown, f"not exported by any service: {sorted(unknown)}"
    assert len(exprs) >= 8 and dashboard["uid"] and dashboard["refresh"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
    source = yaml.safe_load((MON / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in source["datasources"]}
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} <= uids
    provider = yaml.safe_load((MON / "grafana" / "provisioning" / "dashboards" / "handoff.yml").read_text())
    compose = (ROOT / "docker-compose.yml").read_text()
    assert f"./deploy/monitoring/grafana/dashboards:{provider['providers'][0]['options']['path']}" in compose
    scrape = yaml.safe_load((MON / "prometheus.yml").read_text())
    assert scrape["rule_files"] == ["/etc/prometheus/alerts.yml"] and "alerts.yml:/etc/prometheus/alerts.yml" in compose
