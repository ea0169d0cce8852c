"""A database backup restored into an empty database passes `handoff audit verify` with the
same counts (deploy/README.md, "Backups"): SQLite's online backup, and pg_dump | psql into
an emptied schema where HANDOFF_TEST_POSTGRES_DSN is set."""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pipeline.audit.sink import load_checkpoints, load_links
from pipeline.storage import open_store
from pipeline.storage._sqlite import sqlite_path
from pipeline.storage.migrate import DIRECTORY
from tests.unit.audit.logs import sealed_log

SIGNING = "audit-test-signing-key-0123456789"  # the key tests/unit/audit/logs.py seals with
# every table the migrations create (both dialects' files name the same tables)
TABLES = sorted({name for sql in DIRECTORY.rglob("*.sql")
                 for name in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", sql.read_text(), re.I)}
                | {"schema_migrations"})


def _verify(url: str, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env |= {"HANDOFF_STORAGE__URL": url, "HANDOFF_ENVIRONMENT": "test",
            "HANDOFF_SECURITY__AUDIT_SIGNING_KEY": SIGNING,
            "HANDOFF_AUDIT__CHECKPOINT_EXPORT": str(tmp_path / "no-export.jsonl")}
    done = subprocess.run([str(Path(sys.executable).parent / "handoff"), "audit", "verify"], capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("intact"), done.stdout + done.stderr
    return re.sub(r"in [0-9.]+ ?m?s", "in (time)", done.stdout)  # the same report but for how long it took


def _counts(url: str) -> dict[str, int]:
    store = open_store(url)
    try:
        with store.transaction() as tx:
            return {t: tx.fetchone(f"SELECT COUNT(*) AS n FROM {t}")["n"] for t in TABLES}
    finally:
        store.close()


def _fill(url: str) -> tuple[int, int]:
    store = open_store(url)
    try:
        store.migrate()
        links, checkpoints = sealed_log(store, count=40, segment=10)
        assert len(links) == 40 and checkpoints
        return len(links), len(checkpoints)
    finally:
        store.close()


def test_a_sqlite_online_backup_restores_and_verifies(tmp_path):
    source = f"sqlite:///{tmp_path}/live/handoff.db"
    _fill(source)
    copy = tmp_path / "restored" / "handoff.db"
    copy.parent.mkdir()
    with sqlite3.connect(sqlite_path(source)) as live, sqlite3.connect(copy) as backup:
        live.backup(backup)  # what `sqlite3 handoff.db ".backup copy.db"` does, while the service runs
    restored = f"sqlite:///{copy}"
    assert _counts(restored) == _counts(source) and _counts(restored)["audit_record"] == 40
    assert _verify(source, tmp_path) == _verify(restored, tmp_path)


@pytest.mark.postgres
def test_a_pg_dump_restored_into_an_emptied_schema_verifies_with_equal_counts(pg_url, tmp_path):
    """The test's role may not create databases (deploy/ci/postgres.sh's owner role cannot), so
    the "empty database" is the same schema dropped with everything in it, then restored."""
    for tool in ("pg_dump", "psql"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (Debian: postgresql-client)")
    links, checkpoints = _fill(pg_url)
    before, report = _counts(pg_url), _verify(pg_url, tmp_path)
    dsn = os.environ["HANDOFF_TEST_POSTGRES_DSN"]
    schema = re.search(r"search_path%3D(\w+)", pg_url)[1]
    dump = subprocess.run(["pg_dump", "--no-owner", "--schema", schema, dsn], capture_output=True, text=True,
                          timeout=120, check=True).stdout
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        assert admin.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()[0] == 0
    restore = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn], input=dump, capture_output=True,
                             text=True, timeout=120)
    assert restore.returncode == 0, restore.stderr
    assert _counts(pg_url) == before and before["audit_record"] == links
    store = open_store(pg_url)
    try:
        assert len(list(load_links(store))) == links and len(load_checkpoints(store)) == checkpoints
    finally:
        store.close()
    assert _verify(pg_url, tmp_path) == report
