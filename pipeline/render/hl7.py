"""HL7 v2.5.1 REF^I12 (create), REF^I13 (modify), REF^I14 (cancel), and the replies: RRI^I12, ACK.

Built as plain segment strings with HL7 escaping: hl7apy took ~3.6 ms for a 4-segment REF
(~10 ms for a full one) against ~30 µs here (bench/render.py), so hl7apy stays the structure
authority in the tests (every message they render is parsed by it against the 2.5.1 REF_I12
structure), not a second builder.

    MSH  sender HANDOFF / referring agency, receiver the recipient; MSH-10 the message id;
         MSH-15/16 AL (the recipient acknowledges and answers with RRI^I12)
    RF1  status (0283), priority (0280), type (0281), category (0284), RF1-6 the referral id (the same
         in I12, I13 and I14), RF1-10 reason (0336: provider ordered, or patient preference)
    PRD  RP the referring agency, RT the recipient (PRD-4 facility: an agency has no XPN name, no 0338 id)
    PID  the per-recipient linkage identifier and what the variant allows (state USPS, county FIPS)
    DG1  findings (ICD-10-CM with descriptions);  OBR  OBR-4 the service (SNOMED CT)
    OBX  categories (SNOMED CT), indicators (NEMSIS), naloxone (RxNorm) with dose (UCUM), response, who
    PV1  the EMS encounter (PV1-19 the incident number);  NTE  parties, note, 2.32 notice, consent scope

Every coded field is checked against its v2.5.1 table by the tests (tests/unit/render/hl7_tables.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pipeline import geo
from pipeline.hl7v2 import Hl7Error, read
from pipeline.render import codes
from pipeline.render.content import Content
from pipeline.vocab import Action, ReferralState

HL7_CONTENT_TYPE = "application/hl7-v2; charset=utf-8"
TRIGGER = {Action.CREATE: "I12", Action.UPDATE: "I13", Action.CANCEL: "I14"}
PRIORITY = {"urgent": "A^ASAP^HL70280", "routine": "R^Routine^HL70280"}
# RF1-3 referral type (HL7 table 0281) by the service's SNOMED CT code: drug-addiction rehabilitation
# is medical care (MOUD), psychiatric aftercare psychiatric. 0281 has no value for a social-service or
# a generic "referral to service" (peer recovery, a withheld service), so RF1-3 stays empty for those
# rather than say something false.
REFERRAL_TYPE = {"4266003": "Med^Medical^HL70281", "61801003": "Psy^Psychiatric^HL70281"}
REASON_ORDERED, REASON_SELF = "O^Provider Ordered^HL70336", "P^Patient Preference^HL70336"  # RF1-10 (0336)
RESPONSES = {"9916001": "Improved", "9916003": "Unchanged", "9916005": "Worse"}
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def esc(text: str, limit: int = 199) -> str:
    """HL7-escaped text, at most `limit` characters on the wire (ST is 199, FT 65536), never
    cutting an escape sequence in half."""
    escaped = text
    for raw, e in _ESCAPES:
        escaped = escaped.replace(raw, e)
    if len(escaped) <= limit:
        return escaped
    out, size = [], 0
    for ch in text:
        piece = next((e for raw, e in _ESCAPES if raw == ch), ch)
        if size + len(piece) > limit:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def ns(text: str) -> str:
    """A namespace or coded IS value (MSH-4/5/6, EI-2, CX-4, XAD-9): at most 20 safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:20]


def _ts(at: datetime | None) -> str:
    return at.strftime("%Y%m%d%H%M%S%z") if at is not None else ""


def _seg(*fields: str) -> str:
    return "|".join(fields).rstrip("|")


def message(c: Content) -> bytes:
    """The REF message for this content; segments end with a carriage return."""
    trigger = TRIGGER[c.action]
    segments = [
        _seg("MSH", "^~\\&", "HANDOFF", ns(c.referring.id), ns(c.recipient.id), ns(c.recipient.id), _ts(c.sent_at),
             "", f"REF^{trigger}^REF_I12", c.message_id, "P", "2.5.1", "", "", "AL", "AL", "", "UNICODE UTF-8"),
        _seg("RF1", "" if c.action == Action.CANCEL else "P^Pending^HL70283", PRIORITY[c.priority],
             REFERRAL_TYPE.get(c.service.code, ""), "", "O^Outpatient^HL70284", f"{esc(c.referral_id)}^HANDOFF",
             _ts(c.authored_at), "", "", REASON_SELF if c.pathway == "self-referral" else REASON_ORDERED),
        # PRD-2 is a person's name (XPN) and PRD-7 a practitioner id (0338): an agency has neither
        _seg("PRD", "RP^Referring Provider^HL70286", "", "", f"^^^{ns(c.referring.id)}"),
        _seg("PRD", "RT^Referred to Provider^HL70286", "", "", f"^^^{ns(c.recipient.id)}"),
        _pid(c),
    ]
    segments += [_seg("DG1", str(n), "", f"{esc(f.code)}^{esc(f.display)}^I10C", "", "", "W")
                 for n, f in enumerate(c.findings, 1)]
    segments += _observations(c)
    if c.encounter is not None and c.encounter.incident is not None:
        i = c.encounter.incident
        segments.append(_seg("PV1", "1", "E", *[""] * 16, f"{esc(i.incident_number)}^^^{ns(i.dispatch_centre)}^VN"))
    notes = [f"Referred by {c.referring.name} ({c.referring.id}) to {c.recipient.name} ({c.recipient.id})",
             c.note, c.notice, c.consent_scope and f"Consent scope: {c.consent_scope}",
             c.cancel_reason and f"Cancelled: {c.cancel_reason}"]
    segments += [_seg("NTE", str(n), "P", esc(text, 65536)) for n, text in enumerate(filter(None, notes), 1)]
    return ("\r".join(segments) + "\r").encode("utf-8")


def _pid(c: Content) -> str:
    p = c.patient
    name = "^".join((esc(p.family), esc(p.given), esc(p.middle))).rstrip("^") or "^^^^^^U"  # PID-5 is required
    a = p.address
    address = ""
    if a is not None:  # XAD: street, city (a name, never a GNIS id), USPS state, ZIP, type H, county FIPS code
        city = "" if a.city.strip().isdigit() else a.city
        county = a.county_code or geo.county_fips(a.county, a.state)
        parts = (esc(a.street), "", esc(city), geo.state_abbr(a.state), esc(a.zip), "", "H", "", ns(county))
        address = "^".join(parts).rstrip("^") if any((a.street, city, a.state, a.zip, county)) else ""
    language = codes.language_name(p.language) if p.language else ""
    return _seg("PID", "1", "", f"{esc(c.link)}^^^HANDOFF^PI", "", name, "",
                p.birth_date.strftime("%Y%m%d") if p.birth_date else "", p.sex, "", "", address, "",
                f"^PRN^PH^^^^^^^^^{esc(p.phone)}" if p.phone else "", "",
                f"{esc(p.language)}^{esc(language)}^99BCP47" if language else "")


def _observations(c: Content) -> list[str]:
    """OBR (OBR-4 the service asked for, SNOMED CT) with an OBX per category (the reason for the
    referral in SNOMED CT, the category as the alternate code), per alcohol/drug indicator and per
    naloxone given (with its dose, response and who gave it), each OBX-11 F (final)."""
    obx = []
    for cat in c.categories:
        code, display = codes.category_coding(cat)
        obx.append(("CE", "42349-1^Reason for referral^LN", f"{code}^{esc(display)}^SCT^{cat.value}^"
                    f"{esc(codes.category_display(cat))}^99HANDOFF", "", None))
    for code in c.indicators:
        obx.append(("CE", "eHistory.17^Alcohol/Drug Use Indicators^99NEMSIS",
                    f"{esc(code)}^{esc(codes.nemsis_label('eHistory.17', code))}^99NEMSIS", "", None))
    for m in c.naloxone:
        obx.append(("CE", "29549-3^Medication administered^LN", f"{esc(m.code)}^naloxone^RXNORM", "", m.given_at))
        unit = codes.dose_unit(m.dose_unit) if m.dose is not None else None
        if unit is not None:
            obx.append(("NM", "eMedications.05^Medication Dosage^99NEMSIS", f"{m.dose:g}",
                        f"{unit[0]}^{esc(unit[1])}^UCUM" if unit[0] else f"^{esc(unit[1])}", m.given_at))
        if m.response:
            label = m.response.capitalize()
            code = next((k for k, v in RESPONSES.items() if v == label), "")
            obx.append(("CE", "eMedications.07^Response to Medication^99NEMSIS", f"{code}^{label}^99NEMSIS", "",
                        m.given_at))
        if m.given_prior and codes.nemsis_label("eMedications.10", m.administered_by):
            obx.append(("CE", "eMedications.10^Role/Type of Person Administering Medication^99NEMSIS",
                        f"{esc(m.administered_by)}^{esc(codes.nemsis_label('eMedications.10', m.administered_by))}"
                        "^99NEMSIS", "", m.given_at))
    out = [_seg("OBR", "1", f"{esc(c.referral_id)}^HANDOFF", "",
                f"{c.service.code}^{esc(c.service.display)}^SCT", "", "", _ts(c.authored_at))]
    for n, (kind, code, value, units, at) in enumerate(obx, 1):
        out.append(_seg("OBX", str(n), kind, code, "", value, units, "", "", "", "", "F", "", "", _ts(at)))
    return out


# ---------------------------------------------------------------- replies

RF1_STATES = {"A": (ReferralState.ACCEPTED, "3.0"), "R": (ReferralState.REJECTED, "4.0"),
              "E": (ReferralState.FAILED, ""), "P": (None, "")}
ACK_CODES = ("AA", "AE", "AR", "CA", "CE", "CR")


@dataclass(frozen=True)
class Reply:
    """An ACK or an RRI^I12 from a recipient. `state` is what it says about the referral (None:
    nothing new); `permanent` marks an AE/AR (CE/CR) that a resend will not fix."""

    kind: str  # ack | rri
    control_id: str
    acknowledges: str  # MSA-2: the MSH-10 of our message
    ack_code: str
    referral_id: str = ""  # RF1-6 (RRI)
    state: ReferralState | None = None
    business_status: str = ""
    reason: str = ""

    @property
    def permanent(self) -> bool:
        return self.ack_code in ("AE", "AR", "CE", "CR")


@dataclass(frozen=True)
class BadReply:
    reason: str


def parse_reply(data: bytes) -> Reply | BadReply:
    """Read an ACK or RRI^I12 (MLLP framing removed). Never raises on bad bytes."""
    try:
        msg = read(data)
    except Hl7Error as e:
        return BadReply(f"not an HL7 v2 message: {e.reason}")
    kind, trigger = msg.get(msg.msh, 9, 1), msg.get(msg.msh, 9, 2)
    if kind not in ("ACK", "RRI"):
        return BadReply(f"unexpected message type {kind[:10]}^{trigger[:10]}")
    msa, rf1 = msg.first("MSA"), msg.first("RF1")
    code = msg.get(msa, 1)
    if kind == "ACK" and code not in ACK_CODES:
        return BadReply("ACK without a valid MSA-1")
    if code and code not in ACK_CODES:
        return BadReply(f"MSA-1 {code[:4]!r} is not an acknowledgement code")
    err = msg.first("ERR")
    reason = msg.get(msa, 3) or msg.get(err, 8) or " ".join(msg.get(n, 3) for n in msg.all("NTE")).strip()
    reply = Reply(kind.lower(), msg.get(msg.msh, 10), msg.get(msa, 2), code, reason=reason[:500])
    if kind == "ACK":
        return reply
    status = msg.get(rf1, 1)
    if rf1 is None or status not in RF1_STATES:
        return BadReply("RRI without an RF1-1 referral status (A, R, P, E)")
    state, business = RF1_STATES[status]
    return Reply("rri", reply.control_id, reply.acknowledges, code, msg.get(rf1, 6), state, business,
                 reply.reason or ("referral expired" if status == "E" else ""))
