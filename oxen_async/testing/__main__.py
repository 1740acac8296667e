"""``python -m oxen_async.testing --host H --port P --data-dir D [--auth-token T]``.

Prints ``Serving on <url>`` once the port is bound (``--port 0`` picks a free one).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from oxen_async.testing.server import run_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m oxen_async.testing", description="Oxen-compatible local test server"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument(
        "--auth-token", default=None, help="require 'Authorization: Bearer <token>'"
    )
    args = parser.parse_args(argv)
    run_server(
        args.host,
        args.port,
        args.data_dir,
        args.auth_token,
        ready=lambda url: print(f"Serving on {url}", flush=True),
    )


if __name__ == "__main__":
    main()
