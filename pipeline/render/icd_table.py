"""`python -m pipeline.render.icd_table FILE`: every ICD-10-CM item of `simple-icd-10-cm` and its
description, one `code<TAB>description` line each, in the package's order (a child after its
parent, as the package's own lookup resolves a name both carry). Written to FILE atomically.
Run in a child process by pipeline/render/codes.py, so that no worker holds the package's tree.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


def main(path: Path) -> None:
    with warnings.catch_warnings():  # the package reads its data with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with partial.open("w", encoding="utf-8") as out:
        for code in icd.get_all_codes(True):
            description = " ".join(icd.get_description(code).split())
            out.write(f"{code}\t{description}\n")
    partial.replace(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
