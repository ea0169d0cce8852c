"""HL7 v2.5.1 REF^I12/I13/I14 (checked by hl7apy against the 2.5.1 structure) and the replies."""
from __future__ import annotations

from pipeline.hl7v2 import read
from pipeline.render import default_redaction, referring_party, render, render_cancel
from pipeline.render.hl7 import BadReply, parse_reply
from pipeline.vocab import Action, Basis, Format, ReferralState, Variant
from tests.unit.render import cases as c
from tests.unit.render.support import valid_ref

SOURCES = [c.ems_run(), c.incident()]


def ref(variant=Variant.FULL, revision=1, action=Action.CREATE, part2=False):
    request, recipient = c.ems_request(revision=revision), c.provider("hl7v2-mllp")
    payload = render(request, SOURCES, c.decision(request, recipient, variant, Basis.PART2_CONSENT if part2 else
                                                  Basis.HIPAA_TREATMENT, part2), recipient, action=action,
                     redaction=default_redaction())
    assert payload.format == Format.HL7V2
    valid_ref(payload.body)
    return payload, read(payload.body)


def test_ref_i12_carries_the_referral_identity_and_the_permitted_content():
    payload, msg = ref(part2=True)
    assert [s.id for s in msg.segments] == ["MSH", "RF1", "PRD", "PRD", "PID", "DG1", "DG1", "DG1", "DG1", "OBR",
                                            *["OBX"] * 9, "PV1", "NTE", "NTE", "NTE"]
    assert msg.get(msg.msh, 9, 1) + "^" + msg.get(msg.msh, 9, 2) == "REF^I12"
    assert msg.get(msg.msh, 10) == payload.message_id and len(payload.message_id) <= 20
    rf1 = msg.first("RF1")
    assert msg.get(rf1, 6).startswith("ref-") and msg.get(rf1, 10) == "O"  # 0336 provider ordered, not the service
    assert msg.get(rf1, 3) == "Med" and msg.get(msg.first("OBR"), 4) == "4266003"  # OBR-4: the service, SNOMED CT
    assert [msg.get(p, 1) for p in msg.all("PRD")] == ["RP", "RT"] and msg.get(msg.all("PRD")[0], 2) == ""
    assert [msg.get(msg.first("PID"), 11, k) for k in (3, 4, 9)] == ["Springfield", "IL", "17167"]  # county FIPS
    obx = {msg.get(o, 3): (msg.get(o, 5), msg.get(o, 6)) for o in msg.all("OBX")}
    assert obx["eMedications.05"] == ("4", "mg") and obx["eMedications.10"][0] == "9905047"
    assert msg.get(msg.first("DG1"), 3, 2) == "Poisoning by heroin, accidental (unintentional), initial encounter"
    pid = msg.first("PID")
    assert msg.get(pid, 5, 1) == "Quillfeather" and msg.get(pid, 7) == "19910702"
    assert msg.get(pid, 11, 1) == "12 Elm | Apt ^2"  # escaped on the wire, intact when read
    assert {msg.get(d, 3) for d in msg.all("DG1")} == {"T40.1X1A", "F11.20", "F32.9", "R06.89"}
    assert msg.get(msg.first("PV1"), 19) == "2026-000417"
    assert [msg.get(n, 3) for n in msg.all("NTE")][-2] == c.NOTICE


def test_no_sud_and_outreach_only_drop_what_they_must():
    _, msg = ref(Variant.NO_SUD)
    assert {msg.get(d, 3) for d in msg.all("DG1")} == {"F32.9", "R06.89"}
    assert all(msg.get(o, 3) != "29549-3" and msg.get(o, 3) != "eHistory.17" for o in msg.all("OBX"))
    assert msg.get(msg.first("OBR"), 4) == "306206005" and msg.get(msg.first("RF1"), 3) == ""
    _, outreach = ref(Variant.OUTREACH_ONLY)
    assert [s.id for s in outreach.segments] == ["MSH", "RF1", "PRD", "PRD", "PID", "OBR", "NTE"]
    assert outreach.get(outreach.first("PID"), 7) == ""


def test_update_and_cancel_are_new_messages_about_the_same_referral():
    first, m1 = ref()
    again, _ = ref()
    assert first.body == again.body
    update, m2 = ref(revision=2, action=Action.UPDATE)
    cancel = render_cancel(m1.get(m1.first("RF1"), 6), c.PERSON, c.provider("hl7v2-mllp"), "person declined",
                           c.T0, referring=referring_party(c.ems_request(), [c.ems_run(), c.incident()]))
    valid_ref(cancel.body)
    m3 = read(cancel.body)
    assert [m.get(m.msh, 9, 2) for m in (m1, m2, m3)] == ["I12", "I13", "I14"]
    assert len({m.get(m.msh, 10) for m in (m1, m2, m3)}) == 3
    assert len({m.get(m.first("RF1"), 6) for m in (m1, m2, m3)}) == 1
    assert len({m.get(m.first("PID"), 3) for m in (m1, m2, m3)}) == 1
    assert [s.id for s in m3.segments] == ["MSH", "RF1", "PRD", "PRD", "PID", "OBR", "NTE", "NTE"]
    assert m3.get(m3.all("NTE")[-1], 3) == "Cancelled: person declined"
    assert m3.get(m3.msh, 4) == m1.get(m1.msh, 4) and m3.get(m3.all("PRD")[0], 4) == m1.get(m1.all("PRD")[0], 4)


def rri(status: str, msa: str = "AA", control: str = "37DEAC9089B8D0EA0137") -> bytes:
    return ("MSH|^~\\&|BRIDGE|BRIDGE|HANDOFF|ems-012|20260314031000+0000||RRI^I12^RRI_I12|R-991|P|2.5.1\r"
            f"MSA|{msa}|{control}\r"
            f"RF1|{status}^x^HL70283||||O|ref-abc^HANDOFF\r"
            "PRD|RT|Bridge Clinic\rPID|1||pl-1^^^HANDOFF^PI||Doe^Pat\rNTE|1||no capacity this week\r").encode()


def test_rri_replies_map_to_referral_states():
    accepted = parse_reply(rri("A"))
    assert (accepted.kind, accepted.state, accepted.business_status, accepted.referral_id) == (
        "rri", ReferralState.ACCEPTED, "3.0", "ref-abc")
    assert accepted.acknowledges == "37DEAC9089B8D0EA0137" and not accepted.permanent
    rejected = parse_reply(rri("R"))
    assert rejected.state == ReferralState.REJECTED and rejected.reason == "no capacity this week"
    assert parse_reply(rri("P")).state is None
    assert parse_reply(rri("E")).state == ReferralState.FAILED
    assert isinstance(parse_reply(rri("X")), BadReply)


def test_acks_and_bad_bytes():
    head = "MSH|^~\\&|BRIDGE|BRIDGE|HANDOFF|ems-012|20260314031000+0000||ACK^I12^ACK|A-1|P|2.5.1\r"
    ok = parse_reply((head + "MSA|AA|37DEAC9089B8D0EA0137\r").encode())
    assert (ok.kind, ok.ack_code, ok.acknowledges, ok.permanent, ok.state) == ("ack", "AA", "37DEAC9089B8D0EA0137",
                                                                               False, None)
    bad = parse_reply((head + "MSA|AR|37DEAC9089B8D0EA0137\rERR|||207^x^HL70357|E||||unknown patient\r").encode())
    assert bad.permanent and bad.reason == "unknown patient"
    assert isinstance(parse_reply((head + "MSA|ZZ|x\r").encode()), BadReply)
    assert isinstance(parse_reply(b"\x00\x01 not hl7"), BadReply)
    assert isinstance(parse_reply(head.replace("ACK^I12^ACK", "ADT^A01").encode()), BadReply)
