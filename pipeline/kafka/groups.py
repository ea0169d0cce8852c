"""Which consumer groups of a deployment have members now (DescribeGroups), for the worker's
`--stages` check (handoff/worker.py): a stage may run in one set of stages only."""
from __future__ import annotations

ACTIVE_STATES = ("Stable", "PreparingRebalance", "CompletingRebalance")


async def active_groups(bootstrap: str, base: str, **admin_options) -> dict[str, int]:
    """Groups named `base` or `base.…` that have members now: {group id: members}. A group whose
    members all left (LeaveGroup on a clean stop) is Empty and not listed; a killed member stays
    until its session times out (kafka.session_timeout_seconds).

    One DescribeGroups request per group: aiokafka 0.14 sends DescribeGroups v3 to a broker that
    has it (Kafka 4.x) but decodes the answer with the v2 schema, which lacks each group's
    `authorized_operations` (int32). With one group the four trailing bytes are ignored; with two
    or more the second group is read from the wrong offset, decoding fails ("Buffer underrun") and
    aiokafka closes the connection: a `--stages` worker exited 3 "broker unavailable: Connection …
    closed" as soon as two groups of its deployment existed."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **admin_options)
    await admin.start()
    try:
        ids = sorted(g for g, _kind in await admin.list_consumer_groups() if g == base or g.startswith(f"{base}."))
        described = [response for g in ids for response in await admin.describe_consumer_groups([g])]
    finally:
        await admin.close()
    # DescribeGroups v0-v2 group: (error_code, group_id, state, protocol_type, protocol, members)
    return {g[1]: len(g[5]) for response in described for g in response.groups
            if g[0] == 0 and g[2] in ACTIVE_STATES and g[5]}
