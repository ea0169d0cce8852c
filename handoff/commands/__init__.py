"""The `handoff` sub-commands, one module per command group (registered in handoff/cli.py)."""
