"""docker-compose.yml, the Dockerfile, .env.example and the monitoring files, checked
without a container engine: Debian's `docker-compose config` (interpolation, env_file,
merge keys, its own schema) and the Compose Specification's published JSON schema, which
that Debian package installs (compose/config/compose_spec.json; read there, not copied).
`.ci/run` installs the package; elsewhere these tests skip with that reason.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import typer
import yaml

from pipeline.metrics import Metrics
from tests.support.deploy import assert_split

ROOT = Path(__file__).resolve().parents[3]
SPEC = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
WORKERS = {"worker-referrals", "worker-ingest"}  # the split deployment
HANDOFF_SERVICES = {"topics", "migrate", *WORKERS, "intake", "mllp", "web", "monitor"}
LONG_RUNNING = {"kafka", "postgres", *WORKERS, "intake", "mllp", "web", "prometheus", "grafana"}
REAL_KEYS = '{"1":"Zm9vYmFyLWJheg-0123456789abcdef","2":"second}key{with-braces-0123456789"}'


def _need_compose() -> None:
    if shutil.which("docker-compose") is None or not SPEC.exists():
        if os.environ.get("CI"):
            pytest.fail("docker-compose (Debian package) is missing: .ci/run installs it")
        pytest.skip("Debian's docker-compose package is not installed (apt-get install -y docker-compose)")


def _config(tmp_path: Path, env_text: str) -> dict:
    """`docker-compose config` of the real file, in a scratch project with the given .env."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / "deploy").symlink_to(ROOT / "deploy")
    (tmp_path / ".env").write_text(env_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDOFF_", "KAFKA_", "GRAFANA_"))}
    done = subprocess.run(["docker-compose", "config"], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _mounts(service: dict) -> dict[str, str]:
    """volume source -> target, from the short ("src:dst:mode") or the long form."""
    pairs = [(v["source"], v["target"]) if isinstance(v, dict) else tuple(v.split(":")[:2])
             for v in service.get("volumes", [])]
    return dict(pairs)


@pytest.fixture
def config(tmp_path) -> dict:
    _need_compose()
    return _config(tmp_path, (ROOT / ".env.example").read_text())


def test_the_compose_file_and_its_resolved_form_follow_the_compose_specification(config):
    schema = json.loads(SPEC.read_text())
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for document in (raw, config):
        errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(document), key=str)
        assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]]
    # and the schema is not a pushover: an unknown service key is refused
    bad = {"services": {"worker-ingest": {"image": "x", "replica": 3}}}
    assert list(jsonschema.Draft201909Validator(schema).iter_errors(bad))


def test_json_secrets_reach_the_services_verbatim_from_env_file(tmp_path):
    _need_compose()
    env = (ROOT / ".env.example").read_text()
    env = re.sub(r"^HANDOFF_SECURITY__LINKAGE_KEYS=.*$", f"HANDOFF_SECURITY__LINKAGE_KEYS={REAL_KEYS}", env, flags=re.M)
    config = _config(tmp_path, env)
    for name in HANDOFF_SERVICES:
        assert config["services"][name]["environment"]["HANDOFF_SECURITY__LINKAGE_KEYS"] == REAL_KEYS, name
    from pipeline.settings import Settings

    keys = Settings(security={"linkage_keys": json.loads(REAL_KEYS)}).security.linkage_keys
    assert sorted(keys) == [1, 2]


def test_the_stack_runs_the_production_service_with_probes_volumes_and_pinned_images(config):
    services = config["services"]
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert set(services) == HANDOFF_SERVICES | {"kafka", "postgres", "prometheus", "grafana"}
    referrals, ingest = services["worker-referrals"], services["worker-ingest"]
    assert referrals["command"] == ["worker", "--stages", "referrals"] and referrals["deploy"]["replicas"] >= 2
    assert ingest["command"] == ["worker", "--stages", "ingest"] and ingest["deploy"]["replicas"] >= 1
    assert "outside" in referrals["networks"] and "outside" not in ingest["networks"]  # only delivery goes out
    assert_split([services[name]["command"] for name in WORKERS])
    for name in HANDOFF_SERVICES:
        service = services[name]
        assert service["image"] == referrals["image"] and "run" not in service["command"], name
        assert service.get("read_only") is True, name
        assert raw[name]["env_file"] == [".env"] and service["environment"]["HANDOFF_ENVIRONMENT"] == "production"
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
    probes = " ".join(" ".join(services[n]["healthcheck"]["test"]) for n in (*sorted(WORKERS), "intake", "mllp"))
    assert probes.count("/readyz") == 4 and "/healthz" in probes
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+(\.\d+)+[\w.-]*", image), f"{name}: {image} is not pinned by exact tag"
    kafka = services["kafka"]
    assert kafka["environment"]["KAFKA_LOG_DIRS"] == _mounts(kafka)["kafka-data"]
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert _mounts(services["postgres"])["pg-data"] == "/var/lib/postgresql/data"
    for name in WORKERS:
        assert _mounts(services[name])["handoff-data"] == "/var/lib/handoff", name
    assert config["networks"]["backend"]["internal"] is True


def _missing(command: list[str]) -> bool:
    group = typer.main.get_command(__import__("handoff.cli", fromlist=["app"]).app)
    for word in command:
        if word.startswith("-"):  # options are checked by running the command (test_systemd, the worker tests)
            break
        if word not in getattr(group, "commands", {}):
            return True
        group = group.commands[word]
    return False


@pytest.mark.xfail(_missing(["worker"]) or _missing(["serve", "web"]), strict=True,
                   reason="`handoff worker` (runtime, issue 13) or `handoff serve web` (web, issue 22) is not on main yet")
def test_every_command_the_stack_runs_exists(config):
    for name in HANDOFF_SERVICES:
        command = config["services"][name]["command"]
        assert not _missing(command), f"{name}: `handoff {' '.join(command)}` is not a command"


def _unknown_settings(names) -> list[str]:
    """HANDOFF_* names that are not a field of pipeline.settings.Settings (a typo is silently ignored)."""
    from pipeline.settings import Settings

    unknown = []
    for name in names:
        model, path = Settings, name.removeprefix("HANDOFF_").lower().split("__")
        for i, part in enumerate(path):
            field = model.model_fields.get(part)
            if field is None:
                unknown.append(name)
                break
            model = field.annotation
            if not (isinstance(model, type) and hasattr(model, "model_fields")):
                break  # a leaf (or a dict of sections, keyed by the site's names)
    return unknown


def _deployed_names(config: dict) -> set[str]:
    names = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
             if line.startswith("HANDOFF_")}
    for service in config["services"].values():
        names |= {k for k in service.get("environment") or {} if k.startswith("HANDOFF_")}
    for path in (ROOT / "deploy" / "k8s").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] in ("ConfigMap", "Secret"):
                names |= {k for k in doc.get("data", {}) | doc.get("stringData", {}) if k.startswith("HANDOFF_")}
    return names


def test_every_setting_the_deployments_set_exists(config):
    names = {n for n in _deployed_names(config) if not n.startswith("HANDOFF_WEB__")}
    assert len(names) > 20 and not _unknown_settings(names)
    assert _unknown_settings(["HANDOFF_KAFKA__BOOTSTRAPP", "HANDOFF_NOPE"]) == ["HANDOFF_KAFKA__BOOTSTRAPP",
                                                                                 "HANDOFF_NOPE"]


@pytest.mark.xfail(_missing(["serve", "web"]), strict=True, reason="the web settings land with `handoff serve web`")
def test_the_web_settings_the_deployments_set_exist(config):
    names = {n for n in _deployed_names(config) if n.startswith("HANDOFF_WEB__")}
    assert names and not _unknown_settings(names)


def test_the_image_is_slim_non_root_and_pinned():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)[1]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^CMD \[\"worker\"\]$", text, re.M)
    assert "pip wheel" in text  # the image holds what the wheel ships (tests/integration/test_packaging.py)


def test_the_env_example_holds_no_real_secret():
    lines = [line for line in (ROOT / ".env.example").read_text().splitlines() if line and not line.startswith("#")]
    values = dict(line.split("=", 1) for line in lines)
    secret = re.compile(r"KEY|PASSWORD|SECRET|TOKEN")
    secrets = {k: v for k, v in values.items() if secret.search(k)}
    assert "HANDOFF_SECURITY__LINKAGE_KEYS" in secrets and "POSTGRES_PASSWORD" in secrets
    for name, value in secrets.items():
        assert "change-me" in value, f"{name} in .env.example looks like a real secret"
    from pipeline.settings import Settings  # and production refuses the placeholders as they are

    with pytest.raises(Exception, match="placeholder"):
        Settings(environment="production", security={"linkage_keys": json.loads(values["HANDOFF_SECURITY__LINKAGE_KEYS"]),
                                                       "audit_signing_key": values["HANDOFF_SECURITY__AUDIT_SIGNING_KEY"]})


def test_alert_rules_and_the_dashboard_use_metrics_the_code_exports():
    from pipeline.monitor import MonitorCollector

    exported = {m.name for m in [*Metrics().registry.collect(), *MonitorCollector().describe()]} | {"up"}
    texts = [rule["expr"] for group in yaml.safe_load((ROOT / "deploy/monitoring/rules/handoff.yml").read_text())["groups"]
             for rule in group["rules"]]
    dashboards = list((ROOT / "deploy/monitoring/grafana/dashboards").glob("*.json"))
    datasource = yaml.safe_load((ROOT / "deploy/monitoring/grafana/provisioning/datasources/prometheus.yml")
                                .read_text())["datasources"][0]["uid"]
    for path in dashboards:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == datasource, path.name
            texts += [target["expr"] for target in panel["targets"]]
    assert dashboards and len(texts) >= 6
    for expr in texts:
        for name in re.findall(r"\b(handoff_\w+|up)\b", expr):
            base = re.sub(r"_(total|bucket|sum|count|created)$", "", name)
            assert base in exported, f"{name} in {expr!r} is not a metric Handoff exports"
