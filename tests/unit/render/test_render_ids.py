"""Message ids (STYLE.md §5, issue 16): the referral, the action and a digest of the content the
recipient receives, leaving out the message's own ids and timestamps."""
from __future__ import annotations

import json
from datetime import timedelta

from pipeline.render import default_redaction, render
from pipeline.vocab import Action, Variant
from tests.unit.render import cases as c
from tests.unit.render.support import one

SOURCES = [c.ems_run(), c.incident()]


def _render(variant=Variant.FULL, request=None, action=Action.CREATE, later=timedelta(0), kind="fhir-rest"):
    request = request or c.ems_request()
    recipient = c.provider(kind)
    decision = c.decision(request, recipient, variant)
    decision = decision.model_copy(update={"decided_at": decision.decided_at + later})
    return render(request, SOURCES, decision, recipient, action=action, redaction=default_redaction())


def _ids(payload) -> tuple[str, str, str]:
    bundle = json.loads(payload.body)
    return payload.message_id, bundle["id"], one(bundle, "MessageHeader")["id"]


def test_each_variant_is_its_own_message():
    payloads = [_render(v) for v in Variant]
    for n, ids in enumerate(zip(*(_ids(p) for p in payloads))):
        assert len(set(ids)) == len(Variant), f"id {n} is shared by different content"
    assert len({p.content_digest for p in payloads}) == len(Variant)


def test_a_resend_of_the_same_content_is_the_same_message_byte_for_byte():
    first = _render()
    redecided = _render(later=timedelta(hours=5))  # decided again later: the payload's times come from the events
    revised = _render(request=c.ems_request(revision=2))  # a new revision that changes nothing the recipient sees
    assert first.body == redecided.body == revised.body
    assert first.message_id == revised.message_id and first.content_digest == revised.content_digest
    assert len(first.message_id) <= 20


def test_an_update_is_a_new_message_about_the_same_referral():
    create, update = _render(), _render(request=c.ems_request(revision=2), action=Action.UPDATE)
    assert create.message_id != update.message_id and create.content_digest != update.content_digest
    b1, b2 = json.loads(create.body), json.loads(update.body)
    assert one(b1, "Task")["id"] == one(b2, "Task")["id"]


def test_the_digest_leaves_out_only_the_messages_own_ids_and_times():
    from dataclasses import replace

    from pipeline.render.content import digest_of, extract

    request, recipient = c.ems_request(), c.provider()
    content = extract(request, SOURCES, c.decision(request, recipient), recipient, Action.CREATE, default_redaction())
    assert digest_of(replace(content, sent_at=content.sent_at + timedelta(days=1), message_id="X")) == digest_of(
        content)
    assert digest_of(replace(content, priority="routine")) != digest_of(content)
