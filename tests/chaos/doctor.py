"""Doctored copies of a campaign dump (tests/chaos/checker.py), to show the checker can fail:
each function copies the dump and breaks one thing the way a defect would."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.chaos.checker import read


def _copy(dump: Path, out: Path) -> Path:
    shutil.copytree(dump, out, dirs_exist_ok=False)
    return out


def _write(directory: Path, name: str, rows: list[dict]) -> None:
    (directory / f"{name}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))


def delete_one_audit_record(dump: Path, out: Path) -> Path:
    """The audit sink lost (or a stage skipped) one disclosure's record (of a message a recipient holds:
    an alert's delivery result, say, names no referral message)."""
    copy = _copy(dump, out)
    rows = read(copy, "audit")
    held = {(m["referral_id"], m["recipient_id"], m["message_id"]) for m in read(copy, "delivered")}
    first = next(i for i, a in enumerate(rows) if a["kind"] == "delivery-result" and a["outcome"] == "delivered"
                 and (a["referral_id"], a["recipient_id"], a["message_id"]) in held)
    _write(copy, "audit", rows[:first] + rows[first + 1:])
    return copy


def duplicate_one_delivery(dump: Path, out: Path) -> Path:
    """Idempotency off: a resend went out under a new message id, so the recipient holds two."""
    copy = _copy(dump, out)
    rows = read(copy, "delivered")
    first = next(m for m in rows if m["action"] == "create")
    again = first["message_id"] + "-resent"
    _write(copy, "delivered", rows + [first | {"message_id": again, "at": first["at"] + 1}])
    # decided and audited like the first: only the duplicate itself is wrong
    same = (first["referral_id"], first["recipient_id"], first["message_id"])
    for name, match in (("decisions", lambda d: True), ("audit", lambda a: a["kind"] == "delivery-result")):
        rows = read(copy, name)
        twin = next(x for x in rows if match(x) and (x["referral_id"], x["recipient_id"], x["message_id"]) == same)
        _write(copy, name, rows + [twin | {"message_id": again} | ({"audit_id": twin["audit_id"] + "-resent"}
                                                                    if "audit_id" in twin else {})])
    return copy


def deliver_without_permit(dump: Path, out: Path) -> Path:
    """The consent re-check skipped: a message went out whose permit is not on record."""
    copy = _copy(dump, out)
    held = read(copy, "delivered")[0]
    rows = [d for d in read(copy, "decisions") if d["message_id"] != held["message_id"]]
    _write(copy, "decisions", rows)
    return copy


def drop_one_request(dump: Path, out: Path) -> Path:
    """The routing stage dropped a request: no decision names it (and no "expected" referral exists)."""
    copy = _copy(dump, out)
    request = read(copy, "requests")[0]["request_id"]
    rows = read(copy, "audit")
    _write(copy, "audit", [a for a in rows if not (a["kind"] == "decision" and request in a.get("sources", []))])
    return copy


def unrefer_one_input(dump: Path, out: Path) -> Path:
    """The field stage (or the partner-agency referral at intake) made no request for an input that must
    refer (tests/chaos/oracle.py): every request naming it is gone."""
    copy = _copy(dump, out)
    named = next(x["id"] for x in read(copy, "must_refer") if x["refer"])
    rows = read(copy, "requests")
    _write(copy, "requests", [q for q in rows if named not in (*q["sources"], q["incident"])])
    return copy


def refer_without_cause(dump: Path, out: Path) -> Path:
    """A request made for an input that must not refer (a CAD row not closed as a partner referral, a
    traffic call): the first request again, naming that input's incident (and decided like the first)."""
    copy = _copy(dump, out)
    named = next(x["id"] for x in read(copy, "must_refer") if not x["refer"])
    rows = read(copy, "requests")
    _write(copy, "requests", rows + [rows[0] | {"incident": named}])
    return copy


DOCTORS = {"one audit record deleted": delete_one_audit_record, "a delivery duplicated": duplicate_one_delivery,
           "a delivery without a permit": deliver_without_permit, "a request dropped": drop_one_request,
           "an input unreferred": unrefer_one_input, "a request without cause": refer_without_cause}
