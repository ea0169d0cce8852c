"""The first cut of render (the rendering issue replaces it): deterministic, valid FHIR R4."""
from __future__ import annotations

import json

from pipeline import records as r
from pipeline.render import referral_id, render_fhir
from pipeline.route import Place, load_routing_rules, route
from pipeline.route.directory import DirectorySource
from pipeline.vocab import Basis, Outcome, Purpose, Variant
from tests.support.factory import T0
from tests.support.samples import referral


def candidates(request):
    return route(request, DirectorySource().current(), load_routing_rules(), Place(county="Sangamon"), T0)


def test_render_is_deterministic_and_valid_fhir_r4():
    from fhir.resources.R4B.bundle import Bundle

    request = referral()
    clinic = candidates(request)[0]
    ref = referral_id(request, clinic.provider.id)
    decision = r.Decision(referral_id=ref, request_id=request.request_id, recipient_id=clinic.provider.id,
                          purpose=Purpose.TREATMENT, outcome=Outcome.PERMIT, variant=Variant.FULL,
                          basis=Basis.HIPAA_TREATMENT, policy_version="test", decided_at=T0)
    payload = render_fhir(request, decision, clinic.provider)
    assert render_fhir(request, decision, clinic.provider) == payload  # byte for byte
    bundle = Bundle.model_validate(json.loads(payload.body))
    assert bundle.type == "message" and bundle.entry[0].resource.__resource_type__ == "MessageHeader"
    task = bundle.entry[1].resource
    assert task.status == "requested" and task.code.coding[0].code == "fulfill"
    urls = {e.fullUrl for e in bundle.entry}
    assert task.focus.reference in urls and task.for_fhir.reference in urls
    revised = render_fhir(request.model_copy(update={"revision": 2}), decision, clinic.provider)
    assert revised.message_id != payload.message_id  # an update is a new message of the same referral
    assert ref == referral_id(request.model_copy(update={"revision": 2}), clinic.provider.id)
