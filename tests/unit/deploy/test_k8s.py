"""deploy/k8s, validated offline: core kinds with kubernetes-validate (strict: unknown
fields refused), KEDA's kinds with the hand-written schema in deploy/k8s/schemas/, and
the wiring between the files (selectors, probes, Secrets, replicas against partitions)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from pipeline.topics import Catalogue
from tests.support.deploy import assert_split

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
VERSION = "1.30.0"  # the oldest Kubernetes line the manifests are meant for


def _docs() -> list[dict]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _docs() if d["kind"] == kind}


def test_core_kinds_are_valid_kubernetes_and_keda_kinds_match_the_hand_written_schema():
    keda = jsonschema.Draft202012Validator(json.loads((K8S / "schemas" / "keda.schema.json").read_text()))
    kinds = set()
    for doc in _docs():
        kinds.add(doc["kind"])
        if doc["apiVersion"].startswith("keda.sh/"):
            errors = [e.message for e in keda.iter_errors(doc)]
            assert not errors, (doc["metadata"]["name"], errors[:3])
        else:
            kubernetes_validate.validate(doc, VERSION, strict=True)
    assert {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "NetworkPolicy", "ScaledObject",
            "TriggerAuthentication"} <= kinds


@pytest.mark.parametrize("field, value", [("replica", 2), ("minReplicaCount", "two")])
def test_the_keda_schema_refuses_mistakes(field, value):
    keda = jsonschema.Draft202012Validator(json.loads((K8S / "schemas" / "keda.schema.json").read_text()))
    scaled = _by_kind("ScaledObject")["handoff-worker-referrals"]
    broken = {**scaled, "spec": {**scaled["spec"], field: value}}
    assert list(keda.iter_errors(broken))
    trigger = {**scaled["spec"]["triggers"][0], "metadata": {"bootstrapServers": "x", "consumerGroup": "g",
                                                             "lagTreshold": "5"}}
    assert list(keda.iter_errors({**scaled, "spec": {**scaled["spec"], "triggers": [trigger]}}))
    with pytest.raises(kubernetes_validate.ValidationError):  # and strict core validation is not a pushover
        worker = _by_kind("Deployment")["handoff-worker-ingest"]
        kubernetes_validate.validate({**worker, "spec": {**worker["spec"], "replica": 2}}, VERSION, strict=True)


@pytest.mark.parametrize("stage_set, least", [("referrals", 2), ("ingest", 1)])
def test_each_stage_set_scales_on_its_own_lag_within_the_partitions_and_probes_health(stage_set, least):
    name = f"handoff-worker-{stage_set}"
    worker = _by_kind("Deployment")[name]
    pod = worker["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["worker", "--stages", stage_set]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert container["securityContext"]["readOnlyRootFilesystem"] and pod["spec"]["securityContext"]["runAsNonRoot"]
    scaled = _by_kind("ScaledObject")[name]["spec"]
    assert scaled["scaleTargetRef"]["name"] == name
    kafka = scaled["triggers"][0]
    assert kafka["type"] == "kafka" and kafka["metadata"]["consumerGroup"] == f"handoff.{stage_set}"  # the set's group
    partitions = min(t.partitions for t in Catalogue() if not t.name.endswith(".dlq"))
    assert least == scaled["minReplicaCount"] <= worker["spec"]["replicas"] <= scaled["maxReplicaCount"] <= partitions
    assert _by_kind("TriggerAuthentication")[kafka["authenticationRef"]["name"]]
    budget = _by_kind("PodDisruptionBudget")[name]["spec"]
    assert budget["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert budget["maxUnavailable"] == 1


def test_the_workers_are_the_split_deployment_and_only_the_referral_set_delivers():
    workers = {n: d for n, d in _by_kind("Deployment").items() if d["metadata"]["labels"]["app.kubernetes.io/component"]
               == "worker"}
    assert_split([d["spec"]["template"]["spec"]["containers"][0]["args"] for d in workers.values()])
    deliveries = _by_kind("NetworkPolicy")["worker-deliveries"]["spec"]["podSelector"]["matchLabels"]
    reached = [n for n, d in workers.items() if deliveries.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
    assert reached == ["handoff-worker-referrals"]


def test_services_policies_and_secrets_fit_the_pods():
    deployments = _by_kind("Deployment")
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    ports = {name: {p["name"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]}
             for name, d in deployments.items()}
    for name, service in _by_kind("Service").items():
        selected = [d for d, lab in labels.items() if service["spec"]["selector"].items() <= lab.items()]
        assert selected == [name], name
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports[name]
    secrets, configs = _by_kind("Secret"), _by_kind("ConfigMap")
    for name, d in deployments.items():
        spec = d["spec"]["template"]["spec"]
        for source in spec["containers"][0]["envFrom"]:
            ref = source.get("secretRef") or source.get("configMapRef")
            assert ref["name"] in (secrets if "secretRef" in source else configs), (name, ref)
        for volume in spec["volumes"]:
            if "secret" in volume and volume["name"] != "tls":  # TLS secrets are the site's (cert-manager, ...)
                assert volume["secret"]["secretName"] in secrets
    for name, secret in secrets.items():  # examples only: nothing real is committed
        for key, value in secret["stringData"].items():
            assert "change-me" in value or key.endswith("USERNAME"), (name, key)
    policies = _by_kind("NetworkPolicy")
    assert policies["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert all(d["metadata"]["namespace"] == "handoff" for d in _docs() if d["kind"] != "Namespace")
