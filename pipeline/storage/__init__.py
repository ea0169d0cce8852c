"""Storage: one interface over SQLite (the embedded default) and PostgreSQL, with migrations.

    from pipeline.storage import open_store, IntegrityError
    store = open_store(settings.storage.url)   # sqlite:///path | postgresql://user:pass@host:port/db
    store.migrate()
    with store.transaction() as tx:             # commit on exit, rollback on exception
        tx.execute("INSERT INTO audit_record (audit_id, body) VALUES (:id, :body) "
                   "ON CONFLICT (audit_id) DO NOTHING", {"id": audit_id, "body": body})

Callers write one SQL dialect with `:name` placeholders; rows come back as dicts. The
audit sink, the consent registry, the inbox and referral state each own their queries
and add their own migrations (pipeline/storage/migrations/NNNN_name[.dialect].sql).
"""
from ._postgres import redact as redact_url
from .errors import IntegrityError, MigrationError, StorageConflict, StorageError, StorageUnavailable
from .migrate import MigrationState
from .store import Store, Transaction, open_store

__all__ = [
    "open_store", "redact_url", "Store", "Transaction", "MigrationState",
    "StorageError", "StorageUnavailable", "StorageConflict", "IntegrityError", "MigrationError",
]
