"""The privacy officer's page: the accounting of disclosures for one person, the audit chain's
state, and the holds waiting for a legal basis.

    GET  /privacy                              chain state, open holds, the search form
    GET  /privacy/disclosures?token=… | ?family=…&given=…&dob=…&sex=…   (&format=csv|json: export)
    POST /privacy/verify                       recompute every chain and checkpoint now

The accounting is what `handoff audit disclosures` computes (pipeline/audit/disclosures),
in the shape of 42 CFR 2.24 / 45 CFR 164.528: when, to whom, what (the variant), why (the
purpose) and on which basis. Each look at it is a `view` audit record (channel dashboard),
acknowledged before anything is shown, export included.
"""
from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date, datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.web.auth import Web, needs
from pipeline import records as r
from pipeline.audit.disclosures import candidate_tokens, disclosures
from pipeline.audit.emit import view_audit
from pipeline.audit.signing import Signer, Verifier
from pipeline.audit.sink import audit_codec, load_checkpoints, load_links, read_exported
from pipeline.audit.verify import verify
from pipeline.people import Permission

# What each variant carried, in words for the accounting's "description of the information".
VARIANT_WORDS = {"full": "the referral with its clinical details, substance-use information included",
                 "no-sud": "the referral with its clinical details, substance-use information left out",
                 "outreach-only": "who to contact and why, no clinical details", "": "the referral"}
COLUMNS = ("recorded_at", "recipient_id", "description", "purpose", "basis", "variant", "consent_id",
           "referral_id", "outcome", "message_id", "person_token", "key_version", "audit_id")


def chain_state(store, export_path) -> dict:
    """Per partition: records, head, last sealed segment; and the last exported checkpoint."""
    with store.transaction() as tx:
        heads = tx.fetchall("SELECT kafka_partition AS p, COUNT(*) AS n, MAX(chain_seq) AS head FROM audit_record"
                            " WHERE chain_seq IS NOT NULL GROUP BY kafka_partition ORDER BY kafka_partition")
    seals: dict[int, dict] = {}
    for cp in load_checkpoints(store):
        if cp.kind == "seal":
            seals[cp.partition] = {"number": cp.number, **cp.fields}
    exported = read_exported(export_path)
    last_export = max(exported, key=lambda c: c.fields.get("at", "")) if exported else None
    return {"partitions": [{"partition": h["p"], "records": h["n"], "head": h["head"], "seal": seals.get(h["p"]),
                            "unsealed": h["head"] - seals[h["p"]]["last_seq"] if h["p"] in seals else h["n"]}
                           for h in heads],
            "exported": len(exported), "last_export": last_export.fields if last_export else None,
            "export_path": str(export_path)}


def open_holds(gate, now: datetime) -> list[dict]:
    return [{**h, "age_days": (now - datetime.fromisoformat(h["held_at"])).total_seconds() / 86400}
            for h in gate.worklist()]


def run_verify(store, settings):
    keys = (settings.audit.verify_keys or [Signer.from_secret(settings.security.audit_signing_key).public_hex])
    path = settings.audit.checkpoint_export
    exported = read_exported(path) if path.exists() else None
    return verify(load_links(store), load_checkpoints(store), Verifier.of(keys), exported, audit_codec().decode)


def _search(params, settings) -> tuple[list[str], str, str]:
    """(tokens, what the query was for the audit record, a problem to show)."""
    token = params.get("token", "").strip()
    if token:
        return [token], "token", ""
    family, given, dob = (params.get(k, "").strip() for k in ("family", "given", "dob"))
    if not (family and dob):
        return [], "", "Give a person token, or a family name and a date of birth."
    try:
        birth = date.fromisoformat(dob)
    except ValueError:
        return [], "", "The date of birth must be YYYY-MM-DD."
    keys = settings.security.linkage_keys
    tokens = [c.token for c in candidate_tokens(family, given, birth, params.get("sex", "U"), keys)]
    return tokens, f"name+dob+sex, {len(tokens)} tokens over key versions {sorted(keys)}", ""


def _rows(found) -> list[dict]:
    return [{**d.as_json(), "description": VARIANT_WORDS.get(d.variant, d.variant)} for d in found]


def routes(web: Web, gate) -> list[Route]:
    async def view(request: Request, what: str, query: str = "", person: r.PersonKey | None = None) -> None:
        await web.writer.write([view_audit(request.state.session.account.username, web.clock.now(), "dashboard",
                                           what, person=person, query=query)], [], [])

    @needs(Permission.AUDIT_STATE, web)
    async def page(request: Request) -> Response:
        await view(request, "privacy: audit state and open holds")
        state = await asyncio.to_thread(chain_state, web.store, web.settings.audit.checkpoint_export)
        holds = await asyncio.to_thread(open_holds, gate, web.clock.now())
        return web.page(request, "privacy.html", state=state, holds=holds, report=None)

    @needs(Permission.AUDIT_STATE, web)
    async def check(request: Request) -> Response:
        await view(request, "privacy: audit verify")
        report = await asyncio.to_thread(run_verify, web.store, web.settings)
        state = await asyncio.to_thread(chain_state, web.store, web.settings.audit.checkpoint_export)
        holds = await asyncio.to_thread(open_holds, gate, web.clock.now())
        return web.page(request, "privacy.html", state=state, holds=holds, report=report)

    @needs(Permission.DISCLOSURES, web)
    async def accounting(request: Request) -> Response:
        params = request.query_params
        if not any(params.get(k) for k in ("token", "family", "dob")):  # the empty form: nobody's data
            return web.page(request, "disclosures.html", rows=None, params=params)
        tokens, query, problem = _search(params, web.settings)
        fmt = params.get("format", "")
        if problem:
            return web.page(request, "disclosures.html", status=422, problem=problem, rows=None, params=params)
        person = r.PersonKey(person_token=tokens[0], key_version=0) if query == "token" else None
        await view(request, "disclosures" + (f" (export {fmt})" if fmt else ""), query, person)
        rows = _rows(await asyncio.to_thread(disclosures, web.store, tokens, audit_codec().decode))
        if fmt == "json":
            return Response(json.dumps({"generated_at": web.clock.now().isoformat(), "query": query,
                                        "disclosures": rows}, indent=1, sort_keys=True),
                            media_type="application/json", headers=_attachment("disclosures.json"))
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=_attachment("disclosures.csv"))
        return web.page(request, "disclosures.html", rows=rows, params=params, query=query,
                        export=urlencode({k: v for k, v in params.items() if k != "format"}))

    return [Route("/privacy", page), Route("/privacy/verify", check, methods=["POST"]),
            Route("/privacy/disclosures", accounting)]


def _attachment(name: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{name}"'}
