"""A minimal HTTP/1.1 keep-alive load generator on asyncio streams.

Much lighter than an HTTP client library (the load generator shares the 2 cores with the
server), and exact about what it measures:

- `open_loop`: requests are *scheduled* at a fixed rate whatever the server does; latency
  is measured from the scheduled time to the end of the response, so time spent waiting
  for a free connection counts (no coordinated omission).
- `closed_loop`: each connection sends its next request as soon as the previous answer
  arrived; the completed count over the duration is the server's ceiling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

try:  # the venv has uvloop (uvicorn's extra); plain asyncio works too
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


@dataclass
class LoadResult:
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, 2xx only
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0  # from the first scheduled request to the last answer
    behind_max: float = 0.0  # how late (s) the open-loop schedule ran at worst

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)


class _Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
            elif name == "transfer-encoding" and "chunked" in value.lower():
                await self._drain_chunked()
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    async def _drain_chunked(self) -> None:
        assert self.reader is not None
        while True:
            size = int((await self.reader.readline()).strip() or b"0", 16)
            await self.reader.readexactly(size + 2)
            if size == 0:
                return

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _one(conn: _Connection, raw: bytes, t_from: float, result: LoadResult) -> None:
    try:
        status = await asyncio.wait_for(conn.request(raw), timeout=30)
    except Exception as exc:  # noqa: BLE001 - counted and reported, never fatal
        conn.close()
        name = type(exc).__name__
        result.errors[name] = result.errors.get(name, 0) + 1
        return
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if 200 <= status < 300:
        result.latencies.append(time.perf_counter() - t_from)


async def _open_loop(
    host: str, port: int, requests: Iterator[bytes], rate: float, seconds: float, conns: int
) -> LoadResult:
    result = LoadResult()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(conns):
        idle.put_nowait(_Connection(host, port))
    total = int(rate * seconds)
    tasks: list[asyncio.Task] = []
    start = time.perf_counter()

    async def fire(raw: bytes, scheduled: float) -> None:
        conn = await idle.get()  # waiting for a connection counts in the latency
        try:
            await _one(conn, raw, scheduled, result)
        finally:
            idle.put_nowait(conn)

    for i, raw in zip(range(total), requests, strict=False):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            result.behind_max = max(result.behind_max, -delay)
        tasks.append(asyncio.create_task(fire(raw, scheduled)))
        result.sent += 1
    await asyncio.gather(*tasks)
    result.duration = time.perf_counter() - start
    return result


async def _closed_loop(
    host: str, port: int, requests: Iterator[bytes], seconds: float, conns: int
) -> LoadResult:
    result = LoadResult()
    start = time.perf_counter()
    deadline = start + seconds

    async def loop() -> None:
        conn = _Connection(host, port)
        while time.perf_counter() < deadline:
            try:
                raw = next(requests)
            except StopIteration:
                return
            result.sent += 1
            await _one(conn, raw, time.perf_counter(), result)
        conn.close()

    await asyncio.gather(*(loop() for _ in range(conns)))
    result.duration = time.perf_counter() - start
    return result


def _run(coro):
    if uvloop is not None:
        return uvloop.run(coro)
    return asyncio.run(coro)


def open_loop(
    host: str, port: int, requests: Iterator[bytes], *, rate: float, seconds: float, conns: int
) -> LoadResult:
    return _run(_open_loop(host, port, requests, rate, seconds, conns))


def closed_loop(
    host: str, port: int, requests: Iterator[bytes], *, seconds: float, conns: int
) -> LoadResult:
    return _run(_closed_loop(host, port, requests, seconds, conns))
