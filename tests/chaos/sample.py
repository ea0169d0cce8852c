"""What a fault campaign starts from (tests/chaos/campaign.py builds on it): its EMS runs, its
directory's recipients, and the environment its workers run in.

- `campaign_runs(count, seed, distinct)`: the demo's fixed-seed sample moved into the last
  CHAOS_SPAN_HOURS (default 12) and copied under new numbers up to `count` (`distinct`,
  CHAOS_DISTINCT: the share of copies that are of other people); tests/chaos/test_wire.py and
  tests/chaos/test_feed.py read them too.
- `recipients`, `recipient`, `also_over_mllp`: the demo peers' directory, read and adjusted.
- `worker_env(...)`: the workers' HANDOFF_* settings for the campaign's broker, database and peers, with the
  test-only hooks (HOOKS) on their PYTHONPATH when a break or the disk-full fallback is asked for.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from handoff.demo import sample_runs
from tests.chaos.disk import Disk

HOOKS = Path(__file__).parent / "hooks"  # test-only breaks and the disk-full fallback (sitecustomize.py)


def _compressed(value, newest: datetime, now: datetime, scale: float):
    """Every date-time in a record's dump moved so that `newest` is `now` and the distances to it are
    `scale` times what they were (dates of birth are dates: they stay)."""
    if isinstance(value, datetime):
        return now - (newest - value) * scale
    if isinstance(value, dict):
        return {k: _compressed(v, newest, now, scale) for k, v in value.items()}
    if isinstance(value, list):
        return [_compressed(v, newest, now, scale) for v in value]
    return value


SPAN_HOURS = float(os.environ.get("CHAOS_SPAN_HOURS", "12"))  # the runs' times fall in the last SPAN hours


def _letters(n: int) -> str:
    """n in letters (a name's part: person tokens keep only a name's letters)."""
    out = ""
    while True:
        n, digit = divmod(n, 26)
        out = chr(ord("a") + digit) + out
        if not n:
            return out


def campaign_runs(count: int, seed: int, distinct: float = 0.0) -> list:
    """`count` EMS runs: the demo's fixed-seed sample, then copies of it under new PCR and incident
    numbers (new event ids), so that a long campaign has as many distinct inputs as it asks for.
    The copies are of the sample's people, so most become updates of their referrals; `distinct`
    (CHAOS_DISTINCT, 0-1) is the share of the copies (whole copies of the sample, spread evenly) whose
    people are others (the family name marked with the copy's number): referrals grow with runs.
    The sample is dated 2025 over 6.5 months; its times are moved into the last SPAN_HOURS (12 h), the
    newest now, as if the edges had just received a day shift's runs. Spread over months, every referral
    would reach its recipient long past its 24 h accept deadline (counted from the run's time: the sent
    status carries the run's occurred_at) and the deadline sweep cancels and escalates nearly all of them
    within a minute, before any provider could answer. The campaign keeps episodes for 365 days."""
    import uuid

    base = sample_runs(min(count, 1000), seed=seed)
    newest = max(run.envelope.ingested_at for run in base)
    oldest = min(min(run.envelope.ingested_at, run.envelope.occurred_at) for run in base)
    now, scale = datetime.now(timezone.utc), SPAN_HOURS * 3600 / max(1.0, (newest - oldest).total_seconds())
    base = [type(run).model_validate(_compressed(run.model_dump(), newest, now, scale)) for run in base]
    runs = list(base)
    for i in range(len(base), count):
        run = base[i % len(base)]
        tag = f"c{i}"
        generation = i // len(base)
        if distinct and int((generation + 1) * distinct) > int(generation * distinct) and run.patient.family:
            # this copy of the sample is of other people: the same recurrences among them, new referrals
            run = run.model_copy(update={"patient": run.patient.model_copy(update={
                "family": f"{run.patient.family}x{_letters(generation)}"})})
        runs.append(run.model_copy(update={
            "pcr_number": f"{run.pcr_number}-{tag}", "pcr_uuid": f"{run.pcr_uuid}-{tag}" if run.pcr_uuid else "",
            "key": run.key.model_copy(update={"incident_number": f"{run.key.incident_number}-{tag}"}),
            "envelope": run.envelope.model_copy(update={
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run.envelope.event_id}/{tag}")),
                "source_record_id": f"{run.envelope.source_record_id}-{tag}"})}))
    return runs


def also_over_mllp(path: Path, org: str) -> None:
    """`org` gets the MLLP receiver too (a second recipient behind it; MSH-6 tells them apart): it is one
    that Part 2 programmes' referrals go to, so the consent phase can keep its sends waiting."""
    bundle = json.loads(path.read_text())
    endpoints = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Endpoint"]
    mllp = next(e for e in endpoints if e["connectionType"]["code"] == "hl7v2-mllp")
    for endpoint in endpoints:
        if endpoint["managingOrganization"]["reference"] == f"Organization/{org}":
            endpoint.update(connectionType=mllp["connectionType"], address=mllp["address"],
                            payloadType=mllp.get("payloadType", []))
    path.write_text(json.dumps(bundle))


def recipients(path: Path, connection: str) -> list[str]:
    """The organisations whose endpoints in the campaign's directory are of this connection type."""
    bundle = json.loads(path.read_text())
    return sorted({e["resource"]["managingOrganization"]["reference"].split("/")[-1] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Endpoint" and e["resource"]["connectionType"]["code"] == connection})


def recipient(path: Path, connection: str) -> str:
    """The organisation whose endpoint in the campaign's directory is of this connection type."""
    return recipients(path, connection)[0]


def worker_env(bootstrap: str, prefix: str, tmp_path: Path, peers, idempotent: bool, disk: Disk, breaks: tuple[str, ...]
         ) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDOFF_", "CHAOS_"))}
    mllp, direct, alerts = peers.settings.delivery.mllp, peers.settings.delivery.direct, peers.settings.alerts
    fhir = peers.settings.delivery.fhir
    if peers.fhir is not None:  # the HAPI FHIR server (CHAOS_FHIR): the workers' SMART client; its Tasks read back
        env.update(HANDOFF_DELIVERY__FHIR__CLIENT_ID=fhir.client_id, HANDOFF_DELIVERY__FHIR__TOKEN_URL=fhir.token_url,
                   HANDOFF_DELIVERY__FHIR__PRIVATE_KEY=str(fhir.private_key), HANDOFF_TRACK__SWEEP_SECONDS="5")
    hooks = (*breaks, *(() if disk.mounted else ("disk-full",)))
    if hooks:  # the test-only patches (never a switch in the product)
        env.update(PYTHONPATH=os.pathsep.join([str(HOOKS), *filter(None, [env.get("PYTHONPATH")])]),
                   CHAOS_BREAK=",".join(hooks), CHAOS_BREAK_STATE=str(tmp_path / "break.state"),
                   CHAOS_DISK_FULL=str(disk.flag))
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_KAFKA__BOOTSTRAP=bootstrap, HANDOFF_KAFKA__TOPIC_PREFIX=prefix,
               HANDOFF_KAFKA__CONSUMER_GROUP=f"g-{prefix}", HANDOFF_STORAGE__URL=disk.url,
               HANDOFF_METRICS__PORT="0", HANDOFF_LOG__FORMAT="json",  # timestamped lines: a slow drain's diagnosis
               HANDOFF_AUDIT__CHECKPOINT_EXPORT=str(tmp_path / "checkpoints.jsonl"),
               HANDOFF_ROUTING__DIRECTORY=str(peers.settings.routing.directory),
               HANDOFF_DELIVERY__MLLP__CA_BUNDLE=str(mllp.ca_bundle), HANDOFF_DELIVERY__MLLP__ACK_TIMEOUT="2",
               HANDOFF_DELIVERY__DIRECT__SMTP_PORT=str(direct.smtp_port), HANDOFF_DELIVERY__DIRECT__SENDER=direct.sender,
               HANDOFF_DELIVERY__DIRECT__SIGNING_CERT=str(direct.signing_cert),
               HANDOFF_DELIVERY__DIRECT__SIGNING_KEY=str(direct.signing_key), HANDOFF_DELIVERY__DIRECT__TIMEOUT="5",
               HANDOFF_DELIVERY__DIRECT__RECIPIENT_CERTS=json.dumps({k: str(v) for k, v in direct.recipient_certs.items()}),
               HANDOFF_ALERTS__CA_BUNDLE=str(alerts.ca_bundle),  # the co-responder team's webhook (alerts of 911 calls)
               HANDOFF_ALERTS__WEBHOOK_KEYS=json.dumps({k: v.get_secret_value() for k, v in alerts.webhook_keys.items()}),
               HANDOFF_DELIVERY__LEASE_SECONDS="5", HANDOFF_DELIVERY__FINAL_ATTEMPT="50",
               HANDOFF_DELIVERY__IDEMPOTENT="true" if idempotent else "false",
               # the retry tiers outlast a killed worker's lease (5 s): else a replay meets "in flight
               # elsewhere" in every tier and is dead-lettered (the production tiers are 1 m, 10 m, 1 h);
               # the long run sets longer last tiers (CHAOS_RETRY_DELAYS): an update waiting for a create
               # stuck behind a worker restart (20-60 s at load) outlasted 2+4+8 s and was dead-lettered
               HANDOFF_RUNTIME__RETRY_TOPIC_DELAYS_SECONDS=os.environ.get("CHAOS_RETRY_DELAYS", "[2, 4, 8]"), HANDOFF_ROUTING__EPISODE_RETENTION_DAYS="365")
    return env
