"""Deadlines as data (deadlines.yaml): which start when a referral enters a state, which
states meet them, and how long they give. Pure: the track store arms and sweeps them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from pipeline.vocab import ReferralState, Service

DEFAULT = Path(__file__).with_name("deadlines.yaml")


@dataclass(frozen=True)
class Deadline:
    name: str
    start: ReferralState
    met_by: frozenset[ReferralState]
    within: timedelta
    services: frozenset[Service] = frozenset()
    programmes: frozenset[str] = frozenset()

    def applies(self, service: Service | None, programme: str) -> bool:
        return ((not self.services or service in self.services)
                and (not self.programmes or programme in self.programmes))


@dataclass(frozen=True)
class Deadlines:
    version: str
    rules: tuple[Deadline, ...]

    def started_by(self, state: ReferralState, service: Service | None, programme: str) -> list[Deadline]:
        """The deadlines that start when a referral enters `state` (first matching rule per name)."""
        chosen: dict[str, Deadline] = {}
        for rule in self.rules:
            if rule.start == state and rule.name not in chosen and rule.applies(service, programme):
                chosen[rule.name] = rule
        return list(chosen.values())

    @staticmethod
    def due(started: datetime, rule: Deadline) -> datetime:
        return started + rule.within


def load_deadlines(path: Path = DEFAULT) -> Deadlines:
    data = yaml.safe_load(Path(path).read_text())
    rules = []
    for item in data.get("deadlines", []):
        hours = float(item["hours"])
        if hours <= 0:
            raise ValueError(f"deadline {item['name']}: hours must be positive")
        rules.append(Deadline(item["name"], ReferralState(item["from"]),
                              frozenset(ReferralState(s) for s in item["met_by"]), timedelta(hours=hours),
                              frozenset(Service(s) for s in item.get("services") or []),
                              frozenset(item.get("programmes") or [])))
    return Deadlines(str(data["version"]), tuple(rules))
