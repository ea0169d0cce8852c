"""Development certificates for the edges: a CA, a server certificate and one client
certificate per agency named on the command line, under .run/certs (never committed).

  .venv/bin/python scripts/dev_certs.py ems-012 psap-north
prints the settings to export (HANDOFF_EDGES__TLS_CERT, ...) and each agency's CN.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.edge.certs import issue, make_ca  # noqa: E402


def main(agencies: list[str]) -> None:
    out = ROOT / ".run" / "certs"
    ca = make_ca(out)
    server = issue(ca, out, "localhost", server=True)
    print(f"export HANDOFF_EDGES__TLS_CERT={server.cert} HANDOFF_EDGES__TLS_KEY={server.key} "
          f"HANDOFF_EDGES__CLIENT_CA={ca.cert}")
    for agency in agencies:
        client = issue(ca, out, agency)
        print(f"# {agency}: cert {client.cert} key {client.key} (cert_subjects: [\"{agency}\"])")


if __name__ == "__main__":
    main(sys.argv[1:] or ["dev-agency"])
