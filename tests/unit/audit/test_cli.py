"""`handoff audit ...` end to end on a real database: disclosures after a linkage-key
rotation, views recorded with the OS user, verify (exit 1 at a break), seal, export."""
from __future__ import annotations

import getpass
import json
from datetime import date, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import SecretStr
from typer.testing import CliRunner

from pipeline import records as r
from pipeline.audit import emit
from handoff.commands.audit import cli
from pipeline.audit.sink import audit_codec as codec
from pipeline.audit.sink import DIRECT, load_links, store_audit
from handoff.errors import EXIT_CHECK_FAILED, CliError
from pipeline.clock import FixedClock
from pipeline.episode.identity import person_token
from pipeline.people import Accounts, Passwords, Role
from pipeline.stage import Context
from pipeline.storage import open_store
from pipeline.vocab import Basis, Format, Outcome, Purpose, Variant
from tests.support.factory import T0, envelope

K1, K2 = "linkage-key-one-0123456789abcdef", "linkage-key-two-0123456789abcdef"
SIGNING = "audit-signing-key-for-tests-0123456789"
ALEX = r.Person(family="Testperson", given="Alex", birth_date=date(1990, 5, 1), sex="M")


def env(url: str, tmp_path, keys: dict[int, str]) -> dict[str, str]:
    return {"HANDOFF_STORAGE__URL": url, "HANDOFF_ENVIRONMENT": "test", "HANDOFF_USER": "privacy-1",
            "HANDOFF_SECURITY__LINKAGE_KEYS": json.dumps(keys), "HANDOFF_SECURITY__AUDIT_SIGNING_KEY": SIGNING,
            "HANDOFF_AUDIT__CHECKPOINT_EXPORT": str(tmp_path / "officer" / "checkpoints.jsonl"),
            "HANDOFF_AUDIT__SEGMENT_SIZE": "3"}


def invoke(args: list[str], environment: dict[str, str]):
    return CliRunner().invoke(cli, args, env=environment)


def token(person: r.Person, keys: dict[int, str]) -> r.PersonKey:
    return person_token(person, {v: SecretStr(k) for v, k in keys.items()}, "PCR-x")[0]


def disclose(store, n: int, person: r.PersonKey, recipient: str, partition: int = 0) -> None:
    decision = r.Decision(referral_id=f"ref-{n}", request_id=f"req-{n}", recipient_id=recipient,
                          purpose=Purpose.TREATMENT, outcome=Outcome.PERMIT, variant=Variant.NO_SUD,
                          basis=Basis.HIPAA_TREATMENT, policy_version="p-1", decided_at=T0)
    delivery = r.Delivery(envelope=envelope(f"PCR-{n}"), delivery_id=f"ref-{n}:m", referral_id=f"ref-{n}",
                          recipient_id=recipient, endpoint=r.Endpoint(kind="inbox", address=recipient),
                          format=Format.FHIR_R4, message_id=f"m-{n}", content_type="application/fhir+json",
                          payload=b"{}", decision=decision, person=person)
    ctx = Context("deliver", r.SourceRef(topic="delivery", record_id=delivery.delivery_id),
                  FixedClock(T0 + timedelta(days=n)), "t", partition, n)
    event = emit.disclosure_audit(delivery, ctx)
    store_audit(store, event, codec().encode(event), partition, n)


@pytest.fixture
def history(migrated):
    """Four disclosures: Alex under key 1 (exact and the family+dob fall-back), Alex under
    key 2 after the rotation (sex not recorded), and someone else. The privacy officer asking
    (HANDOFF_USER=privacy-1) has a local account."""
    Accounts(migrated, Passwords(time_cost=1, memory_cost=8 * 1024, parallelism=1)).add(
        "privacy-1", frozenset({Role.PRIVACY_OFFICER}), "Privacy One", "a long enough password", T0)
    disclose(migrated, 1, token(ALEX, {1: K1}), "prov-a")
    disclose(migrated, 2, token(replace_person(ALEX, given=""), {1: K1}), "prov-b", partition=1)
    disclose(migrated, 3, token(replace_person(ALEX, sex=""), {1: K1, 2: K2}), "prov-c")
    disclose(migrated, 4, token(replace_person(ALEX, birth_date=date(1990, 5, 2)), {1: K1, 2: K2}), "prov-d")
    return migrated


def replace_person(person: r.Person, **changes) -> r.Person:
    return person.model_copy(update=changes)


def test_disclosures_by_name_find_every_key_version_and_rule(history, url, tmp_path) -> None:
    result = invoke(["disclosures", "--name", "Testperson, Alex", "--dob", "1990-05-01", "--sex", "M", "--json"],
                    env(url, tmp_path, {1: K1, 2: K2}))
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.output.splitlines()]
    assert [(d["recipient_id"], d["key_version"]) for d in found] == [("prov-a", 1), ("prov-b", 1), ("prov-c", 2)]
    assert {(d["purpose"], d["basis"], d["variant"]) for d in found} == {("treatment", "hipaa-treatment", "no-sud")}
    # with key 1 no longer retained, what was tokenised under it cannot be found
    result = invoke(["disclosures", "--name", "Alex Testperson", "--dob", "1990-05-01", "--sex", "M", "--json"],
                    env(url, tmp_path, {2: K2}))
    assert [json.loads(line)["recipient_id"] for line in result.output.splitlines()] == ["prov-c"]


def test_disclosures_by_token_and_the_view_is_recorded(history, url, tmp_path) -> None:
    alex = token(ALEX, {1: K1}).person_token
    result = invoke(["disclosures", "--patient", alex], env(url, tmp_path, {1: K1}))
    assert result.exit_code == 0 and result.output.startswith("1 disclosures") and "to prov-a" in result.output
    views = [codec().decode(l.body) for l in load_links(history) if l.partition == DIRECT]
    assert [(v.kind.value, v.actor, v.os_user, v.person.person_token) for v in views] == \
        [("view", "user:privacy-1", getpass.getuser(), alex)]


def test_verify_passes_then_reports_the_first_break_with_exit_1(history, url, tmp_path) -> None:
    environment = env(url, tmp_path, {1: K1})
    sealed = invoke(["seal", "--all"], environment)
    assert sealed.exit_code == 0 and sealed.output.startswith("2 segments sealed"), sealed.output
    ok = invoke(["verify"], environment)
    assert ok.exit_code == 0 and ok.output.rstrip().endswith("intact"), ok.output
    assert "4 records in 2 chains, 2 checkpoints, 4 records sealed" in ok.output
    store = open_store(url)
    forged = _forged(store)
    with store.transaction() as tx:  # an attacker with database access drops the guard and edits
        on_table = " ON audit_record" if store.dialect == "postgresql" else ""
        tx.execute(f"DROP TRIGGER audit_record_no_update{on_table}")
        tx.execute("UPDATE audit_record SET body = :b WHERE kafka_partition = 0 AND chain_seq = 1",
                   {"b": forged})
    store.close()
    broken = invoke(["verify"], environment)
    assert isinstance(broken.exception, CliError) and broken.exception.code == EXIT_CHECK_FAILED == 1
    assert str(broken.exception) == \
        "audit log broken at partition 0, record 1: content does not match its hash (edited)"


def _forged(store) -> bytes:
    link = [l for l in load_links(store) if (l.partition, l.seq) == (0, 1)][0]
    event = codec().decode(link.body)
    return codec().encode(event.model_copy(update={"recipient_id": "nobody"}))


def test_export_writes_valid_fhir_json_lines_and_a_bundle(history, url, tmp_path) -> None:
    environment = env(url, tmp_path, {1: K1})
    lines = invoke(["export"], environment)
    assert lines.exit_code == 0
    resources = [json.loads(line) for line in lines.output.splitlines() if line.startswith("{")]
    # the four disclosures, and this export's own view record (written before anything is read)
    assert sorted(r["type"]["code"] for r in resources) == ["110106"] * 4 + ["110110"]
    out = tmp_path / "audit.json"
    assert invoke(["export", "--bundle", "--out", str(out)], environment).exit_code == 0
    bundle = Bundle.model_validate(json.loads(out.read_text()))
    assert len(bundle.entry) == 6  # and the second export's view
    assert "Testperson" not in out.read_text()


def test_public_key_matches_the_signing_key(url, tmp_path) -> None:
    from pipeline.audit.signing import Signer
    result = invoke(["public-key"], env(url, tmp_path, {1: K1}))
    assert result.output.split()[0] == Signer.from_secret(SIGNING).public_hex


def test_disclosures_need_a_local_account_with_the_privacy_officer_role(history, url, tmp_path) -> None:
    alex = token(ALEX, {1: K1}).person_token
    environment = env(url, tmp_path, {1: K1}) | {"HANDOFF_USER": ""}
    nobody = invoke(["disclosures", "--patient", alex], environment)
    assert isinstance(nobody.exception, CliError) and nobody.exception.code == 2
    assert "name your account with --user" in str(nobody.exception)
    Accounts(history, Passwords(time_cost=1, memory_cost=8 * 1024, parallelism=1)).add(
        "ops-1", frozenset({Role.IT_OPERATOR}), "Ops", "a long enough password", T0)
    for user, says in (("ops-1", "needs the privacy-officer role"), ("ghost", "no enabled local account")):
        refused = invoke(["disclosures", "--patient", alex, "--user", user], environment)
        assert isinstance(refused.exception, CliError) and says in str(refused.exception)
        assert invoke(["export", "--user", user], environment).exit_code != 0
    views = [l for l in load_links(history) if l.partition == DIRECT]
    assert views == []  # nothing was shown, so nothing to record
    assert invoke(["disclosures", "--patient", alex, "--user", "privacy-1"], environment).exit_code == 0
