"""Fail when a name ``oxen_async`` or ``oxen_async.testing`` exports has no entry in the built
API reference."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import oxen_async
import oxen_async.testing

SITE = Path(__file__).resolve().parents[2] / ".nox" / "site"


def main() -> int:
    pages = "".join(p.read_text("utf-8") for p in (SITE / "reference").rglob("*.html"))
    # mkdocstrings gives each documented object an anchor named by its full path.
    documented = set(re.findall(r'id="oxen_async\.(?:[\w]+\.)*?(\w+)"', pages))
    public = [
        n for module in (oxen_async, oxen_async.testing) for n in module.__all__
        if not n.startswith("__")
    ]  # fmt: skip
    missing = [n for n in public if n not in documented]
    if missing:
        print(f"not in the API reference: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"all {len(public)} public names are in the API reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
