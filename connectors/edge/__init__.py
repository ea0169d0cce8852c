"""The network edges: HTTP intake (intake.py) and the MLLP listener (mllp.py), with per-agency
authentication (auth.py), one commit path (commit.py) and their metrics."""
