"""The campaign's senders at Handoff's network edges: the HTTP intake (TLS, API key) gets EMS runs
as NEMSIS XML, the 911 calls as EIDO, Part 2 consents and their revocations (the outreach team's
key; the registry on the workers' database); the MLLP listener (TLS, client certificate) gets EMS runs
as HL7 ORU^R01. Both edges run here on 127.0.0.1 on the campaign's broker. A sender resends what
the edge did not take (an HTTP 503 while the broker is away, an MLLP negative or missing ACK, a
connection refused; an AR whose ERR says "resend later"), as a real one does; `answers` counts what came back.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from pydantic import SecretStr

from connectors.cad.samples import ISSUER, crisis_call, traffic_call
from connectors.edge.tls import client_context
from pipeline.consent import Registry
from pipeline.kafka.producer import ProducerSink
from pipeline.settings import AgencyCredential
from pipeline.storage import open_store
from tests.chaos import oracle, wire
from tests.unit.connectors import cad_gen
from connectors.edge.certs import issue
from tests.integration.test_edge_replies import running_replies
from tests.support.edges import KEYS, MllpClient, edge_settings, make_certs, msa, running_intake, running_mllp

SENDER = "ems-012"  # one EMS credential that may send for every agency of the sample (NEMSIS by key, HL7 by cert)
RESEND = 60  # attempts per input before the campaign gives up (it then fails: an input not taken is lost)


class Edges:
    def __init__(self, directory: Path, bootstrap: str, catalogue, runs, db_url: str, extra_agencies=(),
                 providers=()) -> None:
        self.certs = make_certs(directory / "edge-certs")
        for org in providers:  # the MLLP recipients answer over TLS with their own client certificate
            self.certs.clients[org] = issue(self.certs.ca, directory / "edge-certs" / "clients", org)
        self.db_url = db_url  # the consent registry's database (the workers' own)
        agencies = sorted({run.agency_id for run in runs} | {SENDER, *extra_agencies})
        settings = edge_settings(self.certs, catalogue.prefix, max_body_bytes=4 << 20, mllp_max_message_bytes=1 << 20)
        creds = dict(settings.edges.agencies)
        creds[SENDER] = AgencyCredential(kind="ems", api_keys=[SecretStr(KEYS[SENDER])], cert_subjects=[SENDER],
                                         agency_ids=agencies)
        for org in providers:
            creds[org] = AgencyCredential(kind="provider", may_send=["status"], cert_subjects=[org])
        centres = {run.agency_id: run.key.dispatch_centre for run in runs} | {ISSUER: "psap-north"}
        self.settings = settings.model_copy(update={
            "edges": settings.edges.model_copy(update={"agencies": creds}),
            "ingest": settings.ingest.model_copy(update={"agency_dispatch_centre": centres})})
        self.bootstrap, self.catalogue = bootstrap, catalogue
        self.answers: Counter = Counter()
        self.control = 0
        self.expected_alerts: list[dict] = []  # {"incident_number", "alert": bool}: what each 911 call must raise
        self.must_refer: list[dict] = []  # tests/chaos/oracle.py: whether each CAD row, field referral, 911 call refers

    @contextlib.asynccontextmanager
    async def running(self):
        store = open_store(self.db_url)
        async with ProducerSink(self.bootstrap) as sink, \
                running_intake(self.settings, sink, self.catalogue, Registry(store)) as (self.base, _), \
                running_mllp(self.settings, sink, self.catalogue) as (self.mllp_address, _), \
                running_replies(self.settings, sink, self.catalogue) as (self.replies_address, _):
            ctx = client_context(self.certs.ca.cert)
            async with httpx.AsyncClient(base_url=self.base, verify=ctx, timeout=30,
                                         headers={"X-API-Key": KEYS[SENDER]}) as self.ems, \
                    httpx.AsyncClient(base_url=self.base, verify=ctx, timeout=30,
                                      headers={"X-API-Key": KEYS["psap-north"]}) as self.psap, \
                    httpx.AsyncClient(base_url=self.base, verify=ctx, timeout=30,
                                      headers={"X-API-Key": KEYS["outreach-1"]}) as self.outreach, \
                    httpx.AsyncClient(base_url=self.base, verify=ctx, timeout=30,
                                      headers={"X-API-Key": KEYS["pd-7"]}) as self.police:
                yield self
        store.close()

    async def _post(self, http: httpx.AsyncClient, path: str, body: bytes, kind: str, ok: int = 200) -> dict:
        for _ in range(RESEND):
            try:
                answer = await http.post(path, content=body, headers={"content-type": kind})
            except httpx.HTTPError as e:
                self.answers[f"http {type(e).__name__}"] += 1
                await asyncio.sleep(1.0)
                continue
            self.answers[f"http {answer.status_code}"] += 1
            if answer.status_code == ok:
                return answer.json()
            if answer.status_code != 503:
                raise AssertionError(f"{path}: {answer.status_code} {answer.text[:300]}")
            await asyncio.sleep(1.0)
        raise AssertionError(f"{path}: not taken after {RESEND} attempts")

    async def nemsis(self, runs) -> None:
        """One EMSDataSet of these runs; every PCR must be accepted."""
        done = await self._post(self.ems, "/v1/nemsis", wire.nemsis(runs), "application/xml")
        assert not done.get("refused"), done["refused"][:3]

    async def hl7(self, runs) -> None:
        """Each run as one ORU^R01 on one MLLP connection; resent until AA."""
        client = None
        for run in runs:
            self.control += 1
            message = wire.oru(run, f"CH{self.control:08d}")
            for _ in range(RESEND):
                try:
                    client = client or await MllpClient.connect(self.mllp_address, self.certs, SENDER)
                    ack = await client.call(message)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
                    ack, client = None, None
                    self.answers[f"mllp {type(e).__name__}"] += 1
                code = msa(ack)[1] if ack else "none"
                self.answers[f"mllp {code}"] += 1
                if code == "AA":
                    break
                if client is not None and ack is None:
                    await client.close()
                    client = None
                if code == "AR" and "resend" not in msa(ack)[-1]:  # "not stored ... resend later": the broker away
                    raise AssertionError(f"MLLP refused {run.pcr_number}: {msa(ack)}")
                await asyncio.sleep(1.0)
            else:
                raise AssertionError(f"MLLP: {run.pcr_number} not taken after {RESEND} attempts")
        if client is not None:
            await client.close()

    async def cad(self, number: int, count: int = 5) -> int:
        """A CAD export (CSV) from the dispatch centre: `count` calls received now; those closed as
        "referred to partner agency" (disposition 15) with a crisis call type are field referrals too."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        rows = cad_gen.rows(count, seed=number)
        for i, row in enumerate(rows):
            row.update({"Incident Number": f"24-{60000 + number * count + i}",
                        "Received At": (now - timedelta(minutes=i)).isoformat()})
        done = await self._post(self.psap, "/v1/cad", cad_gen.to_csv(rows), "text/csv")
        assert not done.get("refused"), done["refused"][:3]
        self.must_refer += [oracle.dispatched("cad", row["Incident Number"], row["Call Type"], row["Disposition"])
                            for row in rows]
        return len(rows)

    async def field(self, number: int, count: int = 2) -> int:
        """Officers' direct referrals (the police department's field referral JSON): a person who agreed
        to a call, the services the officer ticked, the consent status the officer recorded."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        services = (["peer-recovery"], ["sud-treatment", "peer-recovery"], ["mh-crisis-followup"], ["housing-social"])
        items = [{"referral_id": f"FR-{number}-{i}", "referred_at": (now - timedelta(minutes=i)).isoformat(),
                  "pathway": ("officer-prevention", "officer-intervention", "naloxone-plus")[(number + i) % 3],
                  "referrer": {"role": "officer", "id": f"badge-{number % 50}"},
                  "person": {"given": f"Field{number}", "family": f"Person{i}", "phone": f"555-01{number % 100:02d}",
                             "address": {"county": "Sangamon", "state": "IL"}},
                  "services": services[(number + i) % len(services)],
                  "consent_status": ("verbal", "signed", "none")[(number + i) % 3],
                  "note": "agreed to a call"} for i in range(count)]
        done = await self._post(self.police, "/v1/field-referrals", json.dumps(items).encode(), "application/json")
        assert done.get("received") == count and not done.get("refused"), done
        self.must_refer += [oracle.field(item) for item in items]
        return count

    async def reply(self, org: str, referral_id: str, code: str, control: str) -> str:
        """An RRI^I12 from `org` (RF1-1 `code`, RF1-6 the referral); the edge's MSA-1 ("none": no answer;
        an AR saying "resend later" counts as none: the broker was away)."""
        message = "\r".join([
            f"MSH|^~\\&|EHR|{org}|HANDOFF|HANDOFF|{datetime.now(timezone.utc):%Y%m%d%H%M%S}||RRI^I12^RRI_I12|{control}|P|2.5.1",
            "MSA|AA|HANDOFF", f"RF1|{code}|||||{referral_id}"]).encode() + b"\r"
        try:
            client = await MllpClient.connect(self.replies_address, self.certs, org)
            try:
                ack = await client.call(message)
            finally:
                await client.close()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
            self.answers[f"rri {type(e).__name__}"] += 1
            return "none"
        answer = msa(ack)[1] if ack else "none"
        self.answers[f"rri {answer}"] += 1
        return "none" if answer == "AR" and "resend" in msa(ack)[-1] else answer

    async def consent(self, resource: dict) -> dict:
        """A FHIR Consent from the outreach team (201: stored)."""
        return await self._post(self.outreach, "/v1/consents/", json.dumps(resource).encode(), "application/fhir+json",
                                ok=201)

    async def revoke(self, consent_id: str) -> dict:
        return await self._post(self.outreach, f"/v1/consents/{consent_id}/$revoke", b"", "application/json")

    async def calls(self, number: int) -> int:
        """911 calls as EIDO from the dispatch centre: a crisis call, its later version and its closing,
        and a traffic call (the co-responder team's alert webhook gets create, update, withdraw)."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        # the traffic calls numbered apart (as 24-{95000 + n} they met the crisis calls from n = 4,000 on)
        incident, traffic = f"24-{91000 + number}", f"23-{95000 + number}"
        docs = [crisis_call(incident, now), crisis_call(incident, now + timedelta(seconds=1), units=("MCT1",)),
                crisis_call(incident, now + timedelta(seconds=2), closed=True), traffic_call(traffic, now)]
        for doc in docs:
            done = await self._post(self.psap, "/v1/eido", json.dumps(doc).encode(), "application/json")
            assert not done.get("refused"), done["refused"][:3]
        self.expected_alerts += [{"incident_number": incident, "alert": True, "closed": True},
                                 {"incident_number": traffic, "alert": False, "closed": False}]
        # the crisis call's closing version is EDP closed as disposition 15; the traffic call is never closed
        self.must_refer += [oracle.dispatched("call", incident, "EDP", oracle.PARTNER_AGENCY),
                            oracle.dispatched("call", traffic, "TRAFFIC", "")]
        return len(docs)
