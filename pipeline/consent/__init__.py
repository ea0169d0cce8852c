"""Consent and legal basis: the registry of record, the policy, and the gate every disclosure passes.

    policy = load_policy()                                   # policy.yaml, versioned data
    decision = decide(request, Recipient.of(provider), purpose, consents, policy, now)   # pure
    status = may_receive_status(referral, reporter, audience, consents, policy, now)     # pure: status back
    gate = Gate(store, policy)                               # registry reads, holds, releases, cancels

decide.py is the pure core, policy.py the file format, registry.py the database of record
and the only producer of the `consent` topic, gate.py the hold/release/expiry/re-check
around it, fhir.py the Consent resource, http.py and cli.py the ways in, policytest.py the policy
tests as data (`handoff policy test FILE.yaml`, policy-tests.yaml shipped beside the policy).
"""
from pipeline.consent.decide import (Recipient, Subject, consent_problems, consent_scope, decide, may_receive_status,
                                     missing_elements, recheck)
from pipeline.consent.gate import Cancellation, Gate, Release, Routed, cancelled_status
from pipeline.consent.policy import Policy, PolicyError, load_policy
from pipeline.consent.registry import ConsentError, Registry, flagged_in_field, flagged_in_run, publish_pending

__all__ = ["flagged_in_field", "flagged_in_run", "decide", "may_receive_status", "recheck", "Recipient", "Subject",
           "consent_problems", "consent_scope", "missing_elements",
           "Policy", "PolicyError", "load_policy", "Gate", "Release", "Routed", "Cancellation", "cancelled_status",
           "Registry", "ConsentError", "publish_pending"]
