"""Kill the deliver stage's process between send and commit, then restart it: each recipient
(the real HAPI FHIR server, an MLLP receiver, a Direct HISP) ends with exactly one referral per
identity. With idempotency switched off the same loop leaves duplicates, so the check can fail.
A few trials here; 50 under `make test-long`."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from connectors.peers.mllp import MllpPeer
from connectors.peers.smtp import SmtpPeer, direct_certs
from pipeline.topics import Catalogue
from tests.support.delivery import delivery, fhir_settings, tasks

TO, SENDER = "intake@direct.kill.test", "referrals@handoff.kill.test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def recipients(fhir_server, tmp_path):
    mllp = await MllpPeer().start()
    smtp = SmtpPeer().start()
    certs = direct_certs(tmp_path / "direct", [SENDER, TO])
    section = {"lease_seconds": 0.2,
               "fhir": fhir_settings(fhir_server, mode="transaction").model_dump(mode="json"),
               "mllp": {"ack_timeout": 5},
               "direct": {"smtp_port": smtp.port, "sender": SENDER, "signing_cert": str(certs[SENDER][0]),
                          "signing_key": str(certs[SENDER][1]), "recipient_certs": {TO: str(certs[TO][0])}}}
    yield mllp, smtp, section
    await mllp.stop()
    smtp.stop()


async def child(tmp_path: Path, db: str, files: list[str], section: dict, kill: bool) -> int:
    config = tmp_path / "child.json"
    config.write_text(json.dumps({"db": db, "deliveries": files, "delivery": section, "kill": kill}))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.support.deliver_child", str(config),
                                                cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert kill or proc.returncode == 0, err.decode()[-2000:]
    return proc.returncode


async def trials(count: int, tmp_path, fhir_server, recipients, idempotent: bool) -> dict[str, list[int]]:
    """Per connector, how many referrals each identity's recipient holds after kill + restart."""
    from pipeline.storage import open_store

    mllp, smtp, section = recipients
    section = {**section, "idempotent": idempotent}
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    store = open_store(db)
    store.migrate()
    store.close()
    codec = Catalogue("kill")["delivery"].value
    held: dict[str, list[int]] = {"fhir-rest": [], "hl7v2-mllp": [], "direct": []}
    for n in range(count):
        tag = f"{'i' if idempotent else 'x'}{n}"
        sent = {"fhir-rest": delivery("fhir-rest", fhir_server.server.base, pid=f"org-kill-{tag}-f"),
                "hl7v2-mllp": delivery("hl7v2-mllp", mllp.address, pid=f"org-kill-{tag}-m"),
                "direct": delivery("direct", TO, pid=f"org-kill-{tag}-d")}
        files = []
        for kind, d in sent.items():
            (tmp_path / f"{tag}-{kind}.avro").write_bytes(codec.encode(d))
            files.append(str(tmp_path / f"{tag}-{kind}.avro"))
        assert await child(tmp_path, db, files, section, kill=True) == -9  # SIGKILL after every send
        await asyncio.sleep(0.3)  # its leases run out
        assert await child(tmp_path, db, files, section, kill=False) == 0  # the restart resends
        held["fhir-rest"].append(len(await tasks(fhir_server, sent["fhir-rest"].referral_id)))
        held["hl7v2-mllp"].append(len(mllp.referrals().get(sent["hl7v2-mllp"].referral_id, [])))
        held["direct"].append(len(smtp.referrals().get(sent["direct"].referral_id, [])))
    return held


async def test_kill_between_send_and_commit_leaves_one_referral_per_identity(tmp_path, fhir_server, recipients):
    held = await trials(2, tmp_path, fhir_server, recipients, idempotent=True)
    assert held == {"fhir-rest": [1, 1], "hl7v2-mllp": [1, 1], "direct": [1, 1]}


async def test_without_idempotency_the_same_loop_shows_duplicates(tmp_path, fhir_server, recipients):
    held = await trials(1, tmp_path, fhir_server, recipients, idempotent=False)
    assert held == {"fhir-rest": [2], "hl7v2-mllp": [2], "direct": [2]}


@pytest.mark.long
async def test_kill_between_send_and_commit_fifty_times(tmp_path, fhir_server, recipients):
    held = await trials(50, tmp_path, fhir_server, recipients, idempotent=True)
    assert all(counts == [1] * 50 for counts in held.values()), held
