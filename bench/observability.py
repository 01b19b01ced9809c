"""Per-request cost of `app.observability.Observe` (request id, X-Request-ID header, one
latency histogram observation by method, route template and status).

    .venv/bin/python -m bench.observability [--requests 200000] [--repeats 5]

It calls a trivial ASGI app (two send()s, nothing else) directly, without a server, bare and
wrapped in `Observe`, interleaved, `--repeats` times, and prints the median µs per request of
each and their difference: the middleware's own cost. Twice: in a single process (values
in memory) and in prometheus_client's multiprocess mode (`skm serve --workers N`: values in
memory-mapped files), the latter in a child process started with PROMETHEUS_MULTIPROC_DIR
set, since the mode is fixed when prometheus_client is imported. Figures only.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from starlette.types import Message, Receive, Scope, Send


class _Route:
    path_format = "/v1/responses"


async def _inner(scope: Scope, _receive: Receive, send: Send) -> None:
    scope["route"] = _Route
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(_message: Message) -> None:
    return None


def _scope(with_id: bool) -> dict[str, Any]:
    headers = [(b"host", b"skm"), (b"content-type", b"application/json")]
    if with_id:
        headers.append((b"x-request-id", b"0f1e2d3c4b5a69788796a5b4c3d2e1f0"))
    return {"type": "http", "method": "POST", "path": "/v1/responses", "headers": headers}


async def _time(app: Any, requests: int, with_id: bool) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await app(_scope(with_id), _receive, _send)
    return (time.perf_counter() - started) / requests * 1e6


async def _measure(requests: int, repeats: int) -> dict[str, float]:
    from app.observability import Observe

    wrapped = Observe(_inner)
    runs: dict[str, list[float]] = {"bare": [], "observed": [], "observed, id given": []}
    for _ in range(repeats):
        runs["bare"].append(await _time(_inner, requests, False))
        runs["observed"].append(await _time(wrapped, requests, False))
        runs["observed, id given"].append(await _time(wrapped, requests, True))
    return {name: statistics.median(values) for name, values in runs.items()}


def _report(mode: str, medians: dict[str, float]) -> None:
    bare = medians["bare"]
    print(f"{mode}:")
    for name, micros in medians.items():
        extra = "" if name == "bare" else f"  (+{micros - bare:.1f} µs)"
        print(f"  {name:<20} {micros:6.1f} µs/request{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    medians = asyncio.run(_measure(args.requests, args.repeats))
    if args.child:
        _report("multiprocess mode (values in files, `skm serve --workers N`)", medians)
        return
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    _report("single process", medians)
    with tempfile.TemporaryDirectory(prefix="skm-bench-metrics-") as directory:
        subprocess.run(
            [sys.executable, "-m", "bench.observability", "--child", *sys.argv[1:]],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory},
            check=True,
        )


if __name__ == "__main__":
    main()
