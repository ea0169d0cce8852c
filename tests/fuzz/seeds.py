"""Well-formed starting inputs for each fuzz target (from the hostile corpus's own generators)."""
from __future__ import annotations

import json

from tests.data.hostile import generate as g


def seeds() -> dict[str, list[bytes]]:
    from pipeline.topics import Catalogue
    from tests.support.samples import samples

    catalogue, made = Catalogue(prefix="fuzz", partitions=1), samples()
    nemsis = [g.emsdataset(g.pcr()), g.emsdataset(g.pcr() + g.pcr(uuid="two", incident="24-2"))]
    hl7 = [g.hl7(), g.hl7("A2", trigger="ADT^A04")]
    rri = [b"MSH|^~\\&|CLINIC|ORG|HANDOFF|HANDOFF|20241008||RRI^I12|R1|P|2.5.1\rMSA|AA|M1\r"
           b"RF1|A^Accepted|||||ref-1\r"]
    eido = [json.dumps(g.eido_doc()).encode()]
    cad = [g.csv_of([g.cad_row(), g.cad_row(**{"Incident Number": "24-2"})]).encode()]
    field = {"referral_id": "FR-1", "referred_at": "2025-03-01T10:00:00Z", "pathway": "officer-prevention",
             "referrer": {"role": "officer", "id": "b-1"}, "person": {"given": "A"}, "services": ["peer-recovery"],
             "consent_status": "verbal"}
    field_csv = (b"referral_id,pathway,referrer_role,given,family,services,consent_status\r\n"
                 b"FR-2,naloxone-plus,officer,Alex,Rivera,sud-treatment;peer-recovery,proposed\r\n")
    avro = [catalogue[t].value.encode(made[catalogue[t].value.model]) for t in ("ems.run", "referral.request", "delivery")]
    return {"nemsis": nemsis, "xml": nemsis, "hl7": hl7, "hl7-header": hl7, "rri": rri, "eido": eido, "cad-csv": cad,
            "field-json": [json.dumps(field).encode()], "field-csv": [field_csv],
            "consent": [json.dumps(g.consent_doc()).encode()], "avro": avro,
            "mllp": [g.mllp(m) for m in hl7] + [g.mllp(hl7[0]) + b"noise" + g.mllp(hl7[1])]}
