"""`handoff serve web` refuses to start without what it needs: one line, exit 4 (configuration)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HANDOFF = str(Path(sys.executable).parent / "handoff")


def serve_web(tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    return subprocess.run([HANDOFF, "serve", "web"], env={**base, "HANDOFF_STORAGE__URL": f"sqlite:///{tmp_path}/h.db",
                                                          **env}, capture_output=True, text=True, timeout=60)


def test_serve_web_needs_a_broker_and_tls_in_production(tmp_path) -> None:
    nobroker = serve_web(tmp_path)
    assert nobroker.returncode == 4 and nobroker.stderr.startswith("handoff: no broker")
    assert len(nobroker.stderr.splitlines()) == 1
    half = serve_web(tmp_path, HANDOFF_KAFKA__BOOTSTRAP="127.0.0.1:1", HANDOFF_WEB__TLS_CERT=str(tmp_path / "c.pem"))
    assert half.returncode == 4 and "both HANDOFF_WEB__TLS_CERT and HANDOFF_WEB__TLS_KEY" in half.stderr
