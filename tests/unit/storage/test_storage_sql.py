"""The placeholder translation and the SQLite script splitter, without a database."""
from __future__ import annotations

import pytest

from pipeline.storage._sqlite import split_script
from pipeline.storage.sql import named_to_pyformat


@pytest.mark.parametrize("sql, expected", [
    ("SELECT :a, :b_2 FROM t WHERE c = :a", "SELECT %(a)s, %(b_2)s FROM t WHERE c = %(a)s"),
    ("SELECT ':x', :y", "SELECT ':x', %(y)s"),
    ("SELECT 'it''s :x', :y", "SELECT 'it''s :x', %(y)s"),
    ("SELECT E'it\\'s :x', :y", "SELECT E'it\\'s :x', %(y)s"),
    ("SELECT :v::text, x::int", "SELECT %(v)s::text, x::int"),
    ("SELECT '50%', x % 2, :p", "SELECT '50%%', x %% 2, %(p)s"),
    ('SELECT ":c" FROM "t:x"', 'SELECT ":c" FROM "t:x"'),
    ("SELECT 1 -- :a\n, :b /* :c */", "SELECT 1 -- :a\n, %(b)s /* :c */"),
    ("DO $$ BEGIN PERFORM :a; END $$; SELECT :b", "DO $$ BEGIN PERFORM :a; END $$; SELECT %(b)s"),
    ("SELECT $fn$ :a $fn$, :b", "SELECT $fn$ :a $fn$, %(b)s"),
    ("SELECT 12:30", "SELECT 12:30"),
    ("SELECT x FROM t WHERE name LIKE'a\\' AND y = :y", "SELECT x FROM t WHERE name LIKE'a\\' AND y = %(y)s"),
])
def test_named_placeholders_become_pyformat_and_nothing_else_changes(sql: str, expected: str) -> None:
    assert named_to_pyformat(sql) == expected


def test_sqlite_script_splits_only_at_complete_statements() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE a (x TEXT DEFAULT 'p;q'); CREATE TABLE b (y INTEGER);
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        INSERT INTO b (y) VALUES (1);
        INSERT INTO b (y) VALUES (2);
    END;
    -- trailing comment
    """
    statements = [s.strip() for s in split_script(script)]
    assert len(statements) == 3
    assert statements[0].endswith("CREATE TABLE a (x TEXT DEFAULT 'p;q');")
    assert statements[1] == "CREATE TABLE b (y INTEGER);"
    assert statements[2].startswith("CREATE TRIGGER t") and statements[2].endswith("END;")
