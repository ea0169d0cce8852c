"""Outreach: the worklist of people to reach (worklist.py) and consent capture from its form (capture.py)."""
