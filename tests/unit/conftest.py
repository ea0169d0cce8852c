"""Database fixtures for every unit test that needs a store: SQLite and PostgreSQL.

A test that takes `url`, `store` or `migrated` runs on SQLite (a file under tmp_path) and on PostgreSQL.

PostgreSQL comes from HANDOFF_TEST_POSTGRES_DSN (deploy/ci/postgres.sh starts one and
prints it); each test gets its own fresh schema, dropped afterwards. Without the variable
the PostgreSQL variants are skipped, except under CI=true, where they fail.
"""
from __future__ import annotations

import os
import uuid
from typing import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest

from pipeline.storage import Store, open_store

DSN_VAR = "HANDOFF_TEST_POSTGRES_DSN"


def postgres_dsn() -> str:
    dsn = os.environ.get(DSN_VAR)
    if dsn:
        return dsn
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {DSN_VAR} is not set: CI must run the PostgreSQL variants "
                    "(start one with deploy/ci/postgres.sh)", pytrace=False)
    pytest.skip(f"PostgreSQL variant skipped: set {DSN_VAR} (deploy/ci/postgres.sh prints one)")


def with_schema(dsn: str, schema: str) -> str:
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query) + [("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
def pg_url() -> Iterator[str]:
    dsn = postgres_dsn()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_schema(dsn, schema)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/not-yet/handoff.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = open_store(url)
    yield s
    s.close()


@pytest.fixture
def migrated(store: Store) -> Store:
    store.migrate()
    return store
