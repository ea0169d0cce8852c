"""The entry layer: the `handoff` command line and the wiring of `run`/`worker`.

The only package that knows both the core (`pipeline`) and the edges (`connectors`):
`handoff/cli.py` holds the command table, error handling and exit codes, and each command
group lives in `handoff/commands/<name>.py`.
"""
