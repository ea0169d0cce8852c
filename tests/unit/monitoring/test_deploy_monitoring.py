"""deploy/monitoring: the alert rules pass promtool (syntax and their own unit tests), the Grafana
dashboard and its provisioning fit together, and every metric they name is one a service exports."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
MON = ROOT / "deploy" / "monitoring"


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is absent: apt-get install prometheus (.ci/run installs it)")
    return tool


def test_alert_rules_pass_promtool_check_and_their_unit_tests():
    tool = _promtool()
    check = subprocess.run([tool, "check", "rules", "rules/handoff.yml"], cwd=MON, capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 9 rules found" in check.stdout, check.stdout + check.stderr
    test = subprocess.run([tool, "test", "rules", "rules_test.yml"], cwd=MON, capture_output=True, text=True)
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_a_broken_rule_is_refused_by_promtool(tmp_path):
    tool = _promtool()
    broken = tmp_path / "broken.yml"
    broken.write_text("groups: [{name: x, rules: [{alert: X, expr: 'sum by (stage (x)'}]}]\n")
    assert subprocess.run([tool, "check", "rules", str(broken)], capture_output=True).returncode != 0


def test_the_alerts_cover_what_the_issue_names():
    rules = {r["alert"]: r["expr"] for g in yaml.safe_load((MON / "rules" / "handoff.yml").read_text())["groups"]
             for r in g["rules"]}
    for alert, metric in [("HandoffConsumerLagGrowing", "handoff_consumer_lag"),
                          ("HandoffDeadLetters", "handoff_stage_dead_lettered_total"),
                          ("HandoffDeadLetterWaiting", "handoff_oldest_dead_letter_age_seconds"),
                          ("HandoffOldHold", "handoff_oldest_hold_age_seconds"),
                          ("HandoffDeliveryFailures", "handoff_delivery_failures_total"),
                          ("HandoffAuditNotSealed", "handoff_audit_oldest_unsealed_age_seconds")]:
        assert metric in rules[alert]


def test_the_it_dashboard_and_its_provisioning_fit_together():
    """(The metric names in every dashboard and rule: tests/unit/deploy/test_compose.py.)"""
    dashboard = json.loads((MON / "grafana" / "dashboards" / "handoff-it.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
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
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert f"./deploy/monitoring/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in \
        compose["grafana"]["volumes"]
    scrape = yaml.safe_load((MON / "prometheus.yml").read_text())
    assert "./deploy/monitoring/rules:/etc/prometheus/rules:ro" in compose["prometheus"]["volumes"]
    assert scrape["rule_files"] == ["/etc/prometheus/rules/*.yml"] and not list(MON.glob("rules/*test*"))
    monitor = [j for j in scrape["scrape_configs"] if j["job_name"] == "handoff-monitor"]
    assert monitor[0]["static_configs"][0]["targets"] == ["monitor:9467"] and "monitor" in compose
    workers = [j for j in scrape["scrape_configs"] if j["job_name"] == "handoff-worker"][0]["dns_sd_configs"][0]
    assert set(workers["names"]) == {n for n, s in compose.items() if s.get("command", [None])[0] == "worker"} \
        and workers["port"] == 9464  # every worker service of the split deployment is scraped
