"""The bundled server for a test in another process: prints its URL, then for each route name
read from stdin prints that route's counters as one JSON line; stops when stdin closes."""

from __future__ import annotations

import dataclasses
import json
import sys

from oxen_async.testing import OxenTestServer


def main() -> None:
    with OxenTestServer(sys.argv[1]) as server:
        print(server.url, flush=True)
        for line in sys.stdin:
            stats = server.stats.route(line.strip())
            fields = dataclasses.asdict(stats)
            fields["statuses"] = {str(k): v for k, v in stats.statuses.items()}
            print(json.dumps(fields), flush=True)


if __name__ == "__main__":
    main()
