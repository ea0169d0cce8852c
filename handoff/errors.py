"""The command line's exit codes and the one-line error every command raises.

  0 done
  1 a check failed (an audit chain is broken, a schema is stale or incompatible), or a worker's stage
    crashed (its batch uncommitted: a restart replays it)
  2 bad usage (an unknown command or option, a missing argument, a file that is not there)
  3 a dependency is unavailable (the broker, the database, a directory server)
  4 a configuration error (a `HANDOFF_*` variable that does not parse, or is unknown in production)
  5 input refused: some records or files were refused (each said on stderr), the rest was done
    (classify, refer, ingest)

The same codes for every command; README "Command line" lists them.
"""
from __future__ import annotations

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_CONFIG, EXIT_REFUSED = 0, 1, 2, 3, 4, 5


class CliError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code
