"""The audit log: records for every decision, disclosure and view (pipeline/audit/emit.py),
and the sink that stores them (the audit issue adds chaining, checkpoints and queries)."""
