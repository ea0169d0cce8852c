"""Which consumer groups of a deployment have members now (DescribeGroups), for the worker's
`--stages` check (handoff/worker.py): a stage may run in one set of stages only."""
from __future__ import annotations

ACTIVE_STATES = ("Stable", "PreparingRebalance", "CompletingRebalance")


async def active_groups(bootstrap: str, base: str, **admin_options) -> dict[str, int]:
    """Groups named `base` or `base.…` that have members now: {group id: members}. A group whose
    members all left (LeaveGroup on a clean stop) is Empty and not listed; a killed member stays
    until its session times out (kafka.session_timeout_seconds)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **admin_options)
    await admin.start()
    try:
        ids = sorted(g for g, _kind in await admin.list_consumer_groups() if g == base or g.startswith(f"{base}."))
        described = await admin.describe_consumer_groups(ids) if ids else []
    finally:
        await admin.close()
    # DescribeGroups v0-v2 group: (error_code, group_id, state, protocol_type, protocol, members)
    return {g[1]: len(g[5]) for response in described for g in response.groups
            if g[0] == 0 and g[2] in ACTIVE_STATES and g[5]}
