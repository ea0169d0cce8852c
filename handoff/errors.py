"""The command line's exit codes and the one-line error every command raises.

  0 done
  1 a check failed (an audit chain is broken, a schema is stale) or every input was refused
  2 bad usage or input (unknown command or option, a missing or unreadable file)
  3 a dependency is unavailable (the broker, the database, a directory server)
  4 a configuration error (a `HANDOFF_*` variable that does not parse or is not allowed)
"""
from __future__ import annotations

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_CONFIG = 0, 1, 2, 3, 4


class CliError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code
