"""One SQL dialect for callers: named placeholders `:name`.

SQLite binds `:name` itself. For psycopg, `named_to_pyformat` rewrites `:name` to
`%(name)s` and doubles every literal `%`, leaving alone what must not change: string
literals ('...', E'...'), quoted identifiers, comments, dollar-quoted bodies and `::` casts.
A `:name` right after an identifier or a digit (an array slice `a[1:n]`) is still a
placeholder: write `a[1 : :n]` there if ever needed.
"""
from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(
    r"""
    (?P<skip>
        (?<![A-Za-z0-9_$])[Ee]'(?:[^'\\]|\\.|'')*'              # E'...' escape string
      | '(?:[^']|'')*'                                      # string literal
      | "(?:[^"]|"")*"                                      # quoted identifier
      | --[^\n]*                                            # line comment
      | /\*.*?\*/                                           # block comment
      | \$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?\$(?P=tag)\$  # dollar quoting
      | ::                                                  # cast
    )
  | :(?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<percent>%)
    """,
    re.VERBOSE | re.DOTALL,
)


def _replace(m: re.Match[str]) -> str:
    if m.group("name"):
        return f"%({m.group('name')})s"
    if m.group("percent"):
        return "%%"
    return m.group("skip").replace("%", "%%")


@lru_cache(maxsize=1024)
def named_to_pyformat(sql: str) -> str:
    """`:name` placeholders to psycopg's `%(name)s`, with literal `%` escaped."""
    return _TOKEN.sub(_replace, sql)
