"""The audit log: an audit record for every ingest, detection, decision, disclosure, status
change, dead letter, replay, administrative action and view; tamper-evident storage; and
the answers a privacy officer needs.

    emit.py         one builder per kind (stages, the command line and UIs call them)
    sink.py         append to the per-partition hash chain; seal segments; expire whole segments
    chain.py        link hashes, checkpoint statements, the verifier's plain rows
    signing.py      Ed25519 checkpoint signatures (why not HMAC: see its docstring)
    verify.py       check chains, checkpoints and the exported copies; first break per chain
    fhir.py         FHIR R4 AuditEvent after IHE BALP
    disclosures.py  accounting of disclosures by token or by name/date of birth/sex
    cli.py          `handoff audit verify | disclosures | export | seal | expire | public-key`
"""
