"""Synthetic CAD export rows (fixed seed): the shapes real exports have, none of their people."""
from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta, timezone

CALL_TYPES = ["OD", "EDP", "SUICTHRT", "WELFARE", "INTOX", "MVC", "FIRE"]
STREETS = ["Main Street", "Deer Run", "Elm Avenue", "Lake Road", "Mill Plain Road"]
NOTES = ["caller states pt not breathing", "male acting erratic, threatening self", "pt found down in lot",
         "welfare check requested by family", "multi-line note:\nunit staged\nPD on scene"]
HEADER = ["Incident Number", "Received At", "Call Type", "Priority", "Address", "Latitude", "Longitude",
          "Narrative", "Disposition", "Units"]


def rows(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2024, 10, 7, 20, 0, tzinfo=timezone(timedelta(hours=-4)))
    out = []
    for i in range(n):
        received = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
        out.append({
            "Incident Number": f"24-{40000 + i}",
            "Received At": received.isoformat(),
            "Call Type": rng.choice(CALL_TYPES),
            "Priority": str(rng.randrange(1, 6)),
            "Address": f"{rng.randrange(1, 999)} {rng.choice(STREETS)}",
            "Latitude": f"{41 + rng.random():.5f}",
            "Longitude": f"{-73 - rng.random():.5f}",
            "Narrative": rng.choice(NOTES),
            "Disposition": rng.choice(["15", "41", "42", "45", ""]),
            "Units": ";".join(rng.sample(["M12", "E7", "L3", "PD21"], rng.randrange(1, 3))),
        })
    return out


def to_csv(items: list[dict], bom: bool = True) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(items)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")


def to_jsonl(items: list[dict]) -> bytes:
    return "\n".join(json.dumps(item) for item in items).encode("utf-8")
