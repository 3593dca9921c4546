"""An open-loop HTTP/1.1 load generator for loopback benchmarks (no Django, standard library only).

Run as a separate process so it does not share the server's interpreter::

    python -m bench._load --requests reqs.bin --rate 300 --duration 20 --out result.json

``reqs.bin`` holds complete, pre-signed HTTP requests (see ``write_requests``); they are sent in
turn, cycling when the run needs more. Requests are started on a fixed schedule (request ``i`` at
``start + i / rate``) whatever the server does, so a slow server cannot slow the sender down and
hide its own queueing (coordinated omission): each latency is measured from the request's
*intended* start to the last byte of its response. The time from the actual write is recorded too
(``service``); the two differ only when the generator itself fell behind.

Connections are kept alive when the server allows it (``Connection: close`` answers are honoured:
gunicorn's sync workers close after each response, so then every request pays for its connect, as
a platform's sender does). A request waiting for a connection waits on the clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import struct
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


def build_request(
    path: str, body: bytes, headers: dict[str, str], *, host: str = "127.0.0.1"
) -> bytes:
    """One complete HTTP/1.1 POST request as bytes."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body


def write_requests(path: Path, requests: Iterable[bytes]) -> int:
    """Store requests length-prefixed in one file; returns how many."""
    count = 0
    with path.open("wb") as out:
        for request in requests:
            out.write(struct.pack("!I", len(request)))
            out.write(request)
            count += 1
    return count


def read_requests(path: Path) -> list[bytes]:
    data = path.read_bytes()
    requests, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from("!I", data, offset)
        offset += 4
        requests.append(data[offset : offset + size])
        offset += size
    return requests


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (nan when empty)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


@dataclass
class Result:
    rate: float
    duration: float
    sent: int = 0
    ok: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    first_error: str = ""
    connections_opened: int = 0
    #: Wall time from the first scheduled start to the last response.
    elapsed: float = 0.0
    #: Responses per second over the scheduled window (completions / elapsed).
    achieved: float = 0.0
    p50_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    mean_ms: float = float("nan")
    service_p99_ms: float = float("nan")
    #: How late the generator started requests (its own lag), p99.
    send_lag_p99_ms: float = float("nan")
    delivery_ids: list[int] = field(default_factory=list)
    #: Every latency in ms (only with ``keep_latencies``: to merge runs).
    latencies_ms: list[float] = field(default_factory=list)


class _Pool:
    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.open = 0
        self.opened = 0
        self.freed = asyncio.Condition()

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            if self.idle:
                return self.idle.popleft()
            if self.open < self.limit:
                self.open += 1
                self.opened += 1
                try:
                    return await asyncio.open_connection(self.host, self.port)
                except BaseException:
                    self.open -= 1
                    raise
            async with self.freed:
                await self.freed.wait()

    async def put(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], reuse: bool):
        if reuse:
            self.idle.append(conn)
        else:
            self.open -= 1
            conn[1].close()
        async with self.freed:
            self.freed.notify()


async def _exchange(pool: _Pool, request: bytes, timeout: float) -> tuple[int, bytes, float]:
    """Send one request; returns (status, body, when the write started)."""
    conn = await pool.get()
    reader, writer = conn
    reuse = False
    try:
        started = time.perf_counter()
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
        body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
        reuse = not close
        return status, body, started
    finally:
        await pool.put(conn, reuse)


async def run_load(
    requests: Sequence[bytes],
    *,
    host: str,
    port: int,
    rate: float,
    duration: float,
    connections: int = 64,
    timeout: float = 10.0,
    collect_ids: bool = False,
    keep_latencies: bool = False,
    offset: int = 0,
) -> Result:
    total = max(1, int(rate * duration))
    result = Result(rate=rate, duration=duration)
    pool = _Pool(host, port, connections)
    latencies: list[float] = []
    service: list[float] = []
    lags: list[float] = []
    statuses: Counter[str] = Counter()
    interval = 1.0 / rate
    start = time.perf_counter() + 0.05
    done_at = [start]

    async def one(index: int, intended: float) -> None:
        request = requests[(offset + index) % len(requests)]
        try:
            status, body, sent = await _exchange(pool, request, timeout)
        except Exception as exc:
            result.errors += 1
            if not result.first_error:
                result.first_error = f"{type(exc).__name__}: {exc}"
            return
        now = time.perf_counter()
        done_at[0] = max(done_at[0], now)
        statuses[str(status)] += 1
        latencies.append(now - intended)
        service.append(now - sent)
        lags.append(max(0.0, sent - intended))
        if status == 200:
            result.ok += 1
            if collect_ids and body.startswith(b"{"):
                delivery = json.loads(body).get("delivery")
                if delivery is not None:
                    result.delivery_ids.append(int(delivery))

    tasks = []
    for index in range(total):
        intended = start + index * interval
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, intended)))
        result.sent += 1
    await asyncio.gather(*tasks)
    while pool.idle:
        pool.idle.popleft()[1].close()

    result.connections_opened = pool.opened
    result.statuses = dict(statuses)
    result.elapsed = max(done_at[0] - start, total * interval)
    result.achieved = len(latencies) / result.elapsed
    if latencies:
        ordered = sorted(latencies)
        result.p50_ms = percentile(ordered, 0.50) * 1000
        result.p90_ms = percentile(ordered, 0.90) * 1000
        result.p99_ms = percentile(ordered, 0.99) * 1000
        result.max_ms = ordered[-1] * 1000
        result.mean_ms = statistics.fmean(ordered) * 1000
        result.service_p99_ms = percentile(sorted(service), 0.99) * 1000
        result.send_lag_p99_ms = percentile(sorted(lags), 0.99) * 1000
        if keep_latencies:
            result.latencies_ms = [round(v * 1000, 3) for v in latencies]
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--collect-ids", action="store_true")
    parser.add_argument("--latencies", action="store_true", help="include every latency")
    parser.add_argument(
        "--offset", type=int, default=0, help="start at this request (runs continue each other)"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    requests = read_requests(args.requests)
    result = asyncio.run(
        run_load(
            requests,
            host=args.host,
            port=args.port,
            rate=args.rate,
            duration=args.duration,
            connections=args.connections,
            collect_ids=args.collect_ids,
            keep_latencies=args.latencies,
            offset=args.offset,
        )
    )
    args.out.write_text(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
