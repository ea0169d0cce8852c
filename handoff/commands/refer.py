"""`handoff refer FILE... [--out DIR] [--directory FILE]`: what each recipient would receive.

No broker and no database: the files are parsed with the connectors' parsers (NEMSIS XML, EIDO
JSON, CAD CSV/JSONL, HL7 v2), runs are classified with their CAD incident as context, requests are
opened per person and service (pipeline.episode), routed (pipeline.route), decided by the consent
policy as if the person had signed a complete consent for that recipient (so: permitted in full),
and rendered in the recipient's format. Records that do not qualify produce nothing, and stderr
says why for each: not recognised, the patient died or had no patient contact, or no provider
serves the need in the person's area. Times are the records' own, so the same files give the
same bytes. Exit 5 (handoff/errors.py) when a file or record was refused.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import typer

from connectors.common import Parsed
from handoff.commands.detect import read_sources
from handoff.errors import EXIT_REFUSED, CliError
from pipeline import records as r
from pipeline.render import Payload, Redaction, render
from pipeline.vocab import Action, ConsentKind, ConsentStatus, DataCategory, Format, Outcome, Purpose

EXTENSIONS = {Format.FHIR_R4: "json", Format.HL7V2: "hl7", Format.DIRECT: "eml"}


@dataclass(frozen=True)
class Preview:
    request: r.ReferralRequest
    referral_id: str
    recipient_id: str
    payload: Payload


def preview_consents(recipient_id: str, at: datetime) -> list[r.ConsentRecord]:
    """A complete Part 2 consent and a HIPAA authorisation naming this recipient: 'permitted in full'."""
    return [r.ConsentRecord(consent_id=f"preview-{kind.value}", kind=kind, status=ConsentStatus.ACTIVE,
                            recipients=[recipient_id], purposes=list(Purpose), data_categories=list(DataCategory),
                            period_start=at - timedelta(days=1), period_end=at + timedelta(days=365),
                            signed_at=at - timedelta(minutes=1), artefact_ref="preview: no form signed")
            for kind in (ConsentKind.PART2, ConsentKind.HIPAA_AUTHORIZATION)]


def read_records(paths: list[Path]) -> tuple[list[r.Record], list[str]]:
    """Every record the files hold, and the refusals (file, record id, reason: never contents)."""
    records, refused = [], []
    for source in read_sources(paths, "refer"):
        if source.error:
            refused.append(f"{source.path}: {source.error}")
        elif source.kind == "corpus":
            refused.append(f"{source.path}: a labelled corpus file is not a source export")
        for result in source.results:
            if isinstance(result, Parsed):
                records.append(result.record)
            else:
                refused.append(f"{source.path}: record {result.record_id or '-'}: {result.reason}")
    return records, refused


def why_not(run: r.EmsRun, detection: r.Detection) -> str | None:
    """Why a run opens no referral request, or None when it qualifies."""
    if not detection.categories:
        return "not recognised: no overdose, substance-use or behavioural-health crisis found"
    if detection.patient_died:
        return "the patient died: no referral (the detection stands for surveillance)"
    if not detection.patient_contact:
        return "no patient contact: no referral (the detection stands for surveillance)"
    return None


def previews(records: list[r.Record], directory, routing, rules, policy, keys,
             notes: list[str] | None = None) -> Iterator[Preview]:
    """What each qualifying record's recipients would receive; `notes` collects why the others produce nothing."""
    from pipeline.consent import Recipient, decide
    from pipeline.detect import classify_run
    from pipeline.episode import field_requests, incident_requests
    from pipeline.route import place_of, route

    incidents: dict[r.IncidentKey, r.DispatchIncident] = {}
    for rec in records:
        if isinstance(rec, r.DispatchIncident) and (rec.key not in incidents or rec.envelope.source_record_version > incidents[rec.key].envelope.source_record_version):
            incidents[rec.key] = rec
    runs: dict[r.IncidentKey, list[r.EmsRun]] = {}
    for rec in records:
        if isinstance(rec, r.EmsRun):
            runs.setdefault(rec.key, []).append(rec)
    work: list[tuple[r.ReferralRequest, list[r.Record]]] = []
    for key, group in runs.items():
        incident = incidents.get(key)
        classified = [(run, classify_run(run, rules, dispatch=incident)) for run in group]
        if notes is not None:
            notes += [f"record {run.pcr_number or run.pcr_uuid}: {reason}" for run, detection in classified
                      if (reason := why_not(run, detection))]
        sources = [*group, *([incident] if incident else [])]
        work += [(q, sources) for q in incident_requests(classified, routing, keys, incident)]
    for rec in records:
        if isinstance(rec, r.FieldReferral):
            work += [(q, [rec]) for q in field_requests(rec, routing, keys)]
    redaction = Redaction.of(policy)
    for request, sources in work:
        at = request.envelope.occurred_at
        place = place_of(request.subject.address if request.subject else None, request.location)
        candidates = route(request, directory, routing, place, at, age=request.age,
                           language=request.subject.language if request.subject else "")[:routing.fan_out]
        if not candidates and notes is not None:
            area = f"{place.county} county" if place.county else f"ZIP {place.zip}" if place.zip else "an unknown area"
            notes.append(f"request {request.request_id}: no provider serves {request.service.value} in {area}")
        for candidate in candidates:
            provider = candidate.provider
            decision = decide(request, Recipient.of(provider), candidate.purpose, preview_consents(provider.id, at),
                              policy, at)
            if decision.outcome not in (Outcome.PERMIT, Outcome.PERMIT_REDACTED):
                continue  # e.g. a law-enforcement recipient: never, whatever the consent
            yield Preview(request, decision.referral_id, provider.id, render(request, sources, decision, provider, action=Action.CREATE,
                                                       redaction=redaction))


def refer_cmd(files: list[Path] = typer.Argument(..., help="NEMSIS XML, EIDO JSON, CAD CSV/JSONL, HL7 v2"),
              out: Path = typer.Option(None, help="write one file per referral here (default: print them)"),
              directory: Path = typer.Option(None, help="provider directory Bundle (default: the sample)")) -> None:
    """Render what each qualifying record's recipients would receive if permitted in full."""
    from pipeline.consent.policy import load_policy
    from pipeline.detect import load_rules
    from pipeline.route import DirectorySource, DirectoryError, load_routing_rules
    from pipeline.settings import Settings

    try:
        found = DirectorySource(str(directory)).current() if directory else DirectorySource().current()
    except DirectoryError as e:
        raise CliError(str(e)) from None
    records, refused = read_records(files)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    shown, notes = 0, []
    for p in previews(records, found, load_routing_rules(), load_rules(), load_policy(),
                      Settings().security.linkage_keys, notes):
        shown += 1
        name = f"{p.referral_id}.{EXTENSIONS[p.payload.format]}"
        row = {"referral": p.referral_id, "recipient": p.recipient_id, "format": p.payload.format.value,
               "message_id": p.payload.message_id, "service": p.request.service.value}
        if out is not None:
            (out / name).write_bytes(p.payload.body)
            print(json.dumps({**row, "file": str(out / name)}, sort_keys=True))
        else:
            print(f"# {p.referral_id}: {p.request.service.value} to {p.recipient_id} ({p.payload.format.value})")
            sys.stdout.write(p.payload.body.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n") + "\n")
    for reason in [*refused, *notes]:
        print(f"handoff refer: {reason}", file=sys.stderr)
    if refused:
        raise typer.Exit(EXIT_REFUSED)
