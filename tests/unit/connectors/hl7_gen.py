"""Synthetic HL7 v2.5.1 messages carrying an ePCR (fixed seed); none of them is a real person."""
from __future__ import annotations

import random

FAMILIES = ["Rivera", "Okafor", "Lindqvist", "Nguyen", "Haddad", "Kowalski", "Moreau"]
GIVENS = ["Alex", "Sam", "Jordan", "Casey", "Robin", "Morgan", "Taylor"]
IMPRESSIONS = [("F11.20", "Opioid dependence"), ("T40.1X1A", "Poisoning by heroin"),
               ("R45.851", "Suicidal ideations"), ("F10.92", "Alcohol use with intoxication"),
               ("S06.0X0A", "Concussion")]


def oru(seed: int = 1, *, incident: str | None = None, control_id: str | None = None) -> bytes:
    """An ORU^R01 of 15 segments: MSH PID PV1 OBR, 10 OBX, NTE."""
    rng = random.Random(seed)
    code, text = rng.choice(IMPRESSIONS)
    drawn = f"24-{46000 + rng.randrange(1000)}"
    incident = incident or drawn
    control_id = control_id or f"MSG{seed:06d}"
    day = 7 + rng.randrange(20)
    segments = [
        f"MSH|^~\\&|EPCR-APP|EMS-012|HANDOFF|PSAP-N|202410{day:02d}211549-0400||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||PT{rng.randrange(10**6):06d}^^^EMS-012^MR||{rng.choice(FAMILIES)}^{rng.choice(GIVENS)}^Q||"
        f"19{rng.randrange(50, 99)}0{rng.randrange(1, 9)}1{rng.randrange(0, 9)}|{rng.choice('FM')}|||"
        f"{rng.randrange(1, 999)} Main Street^^Danbury^CT^06810||^PRN^PH^^^203^555{rng.randrange(10**4):04d}",
        f"PV1|1|E|||||||||||||||||{incident}^^^PSAP-N^VN",
        f"OBR|1||PCR-{seed:06d}|67796-3^EMS patient care report^LN|||202410{day:02d}202000-0400",
        "OBX|1|CWE|eResponse.05^Type of service^NEMSIS||2205001^911 Response^NEMSIS||||||F",
        "OBX|2|CWE|eDispatch.01^Dispatch reason^NEMSIS||2301053^Overdose^NEMSIS||||||F",
        "OBX|3|ST|eDispatch.03^EMD determinant^NEMSIS||23C5||||||F",
        f"OBX|4|TS|eTimes.01^PSAP call^NEMSIS||202410{day:02d}202000-0400||||||F",
        f"OBX|5|CWE|eSituation.11^Primary impression^NEMSIS||{code}^{text}^I10||||||F",
        "OBX|6|CWE|eSituation.10^Other symptom^NEMSIS||R06.89^Other abnormalities of breathing^I10||||||F||||||8801031^Symptom not present^NEMSIS",
        "OBX|7|CWE|eMedications.03^Medication^NEMSIS|1|7242^Naloxone^RXNORM||||||F",
        "OBX|8|CWE|eMedications.07^Response^NEMSIS|1|9916001^Improved^NEMSIS||||||F",
        "OBX|9|CWE|eMedications.04^Route^NEMSIS|1|9927017^Intranasal^NEMSIS||||||F",
        "OBX|10|CWE|eDisposition.30^Transport disposition^NEMSIS||4230001^Transport by this unit^NEMSIS||||||F",
        "NTE|1|L|Pt found unresponsive\\.br\\Narcan 4 mg IN by PD \\T\\ crew, pt improved.",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


def adt(seed: int = 2, trigger: str = "A04") -> bytes:
    rng = random.Random(seed)
    segments = [
        f"MSH|^~\\&|EPCR-APP|EMS-012|ED-ADT|HOSP|20241007211549-0400||ADT^{trigger}^ADT_A01|ADT{seed:05d}|P|2.5.1",
        "EVN|" + trigger + "|20241007211549-0400",
        f"PID|1||PT{seed:06d}^^^EMS-012^MR||{rng.choice(FAMILIES)}^{rng.choice(GIVENS)}||19800101|M",
        "PV1|1|E|||||||||||||||||24-46519^^^PSAP-N^VN",
        "OBX|1|CWE|eSituation.11^Primary impression^NEMSIS||T14.91^Suicide attempt^I10||||||F",
        "OBX|2|CWE|eSituation.12^Secondary impression^NEMSIS||||||||X",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")
