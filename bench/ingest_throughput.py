"""Ingest benchmark: accepted webhooks/s and latency of `dunning run` versus a bare FastAPI endpoint.

Both servers run in this one invocation, on this machine, under the same uvicorn, driven by
the same client with the same signed bodies, so the ratio is what ingest's work costs:
signature check, dedupe, raw-event insert and outbox row, committed before the answer.

    make bench    # or: PYTHONPATH=. .venv/bin/python bench/ingest_throughput.py --requests 4000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers

from dunning.common.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


@dataclass
class Result:
    target: str
    requests: int
    concurrency: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def wait_http(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


async def _post(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> int:
    # A minimal HTTP/1.1 keep-alive client: a Python HTTP library would cost more CPU than the
    # endpoints under test on a 2-core machine and flatten the very difference we measure.
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body
    )
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def drive(
    name: str, base_url: str, payloads: list[tuple[bytes, dict[str, str]]], path: str, concurrency: int
) -> Result:
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    latencies: list[float] = []
    errors = 0
    total = len(payloads)
    pending = iter(payloads)

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for body, headers in pending:
                started = time.perf_counter()
                status = await _post(reader, writer, f"{host}:{port}", path, body, headers)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
                if len(latencies) % max(1, total // 5) == 0:
                    print(f"  {name}: {len(latencies)}/{total}", flush=True)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        target=name,
        requests=total,
        concurrency=concurrency,
        seconds=round(elapsed, 2),
        per_second=round(total / elapsed, 1),
        p50_ms=round(statistics.median(latencies) * 1000, 2),
        p99_ms=round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        errors=errors,
    )


async def fixed_rate(
    name: str, base_url: str, payloads: list[tuple[bytes, dict[str, str]]], path: str, rate: float
) -> Result:
    """Open loop: send at ``rate``/s whatever the answers do; latency counts from the planned
    send time, so a stalled server shows up in the tail (no coordinated omission)."""
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await asyncio.open_connection(host, port))
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1

    async def one(i: int, body: bytes, headers: dict[str, str]) -> None:
        nonlocal errors
        planned = start + i / rate
        await asyncio.sleep(max(0.0, planned - loop.time()))
        reader, writer = await pool.get()
        try:
            status = await _post(reader, writer, f"{host}:{port}", path, body, headers)
        finally:
            pool.put_nowait((reader, writer))
        latencies.append(loop.time() - planned)
        if status != 200:
            errors += 1

    await asyncio.gather(*(one(i, b, h) for i, (b, h) in enumerate(payloads)))
    elapsed = loop.time() - start
    while not pool.empty():
        pool.get_nowait()[1].close()
    latencies.sort()
    return Result(
        target=f"{name} @ {rate:g}/s",
        requests=len(payloads),
        concurrency=0,
        seconds=round(elapsed, 2),
        per_second=round(len(payloads) / elapsed, 1),
        p50_ms=round(statistics.median(latencies) * 1000, 2),
        p99_ms=round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        errors=errors,
    )


def make_payloads(n: int, secret: str) -> list[tuple[bytes, dict[str, str]]]:
    payloads = []
    for _ in range(n):
        body = encode(invoice_payment_failed())
        payloads.append((body, signed_headers(body, secret)))
    return payloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0, help="fixed-rate phase, requests/s")
    parser.add_argument("--duration", type=float, default=15.0, help="fixed-rate phase, seconds")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dunning-bench-"))
    env = {
        **os.environ,
        "DUNNING_DATA_DIR": str(work / "data"),
        "DUNNING_HTTP_PORT": str(free_port()),
        "DUNNING_LOG_LEVEL": "WARNING",
    }
    for name in ("DUNNING_DATABASE_URL", "DUNNING_KAFKA_BOOTSTRAP", "DUNNING_SECRET_KEY"):
        env.pop(name, None)
    bare_port = free_port()
    print(f"starting dunning run and the bare endpoint (work dir {work})", flush=True)
    log = (work / "servers.log").open("ab")
    dunning = subprocess.Popen([sys.executable, "-m", "dunning.cli", "run"], env=env, stdout=log, stderr=log)
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        dunning_url = f"http://127.0.0.1:{env['DUNNING_HTTP_PORT']}"
        wait_http(dunning_url + "/readyz")
        wait_http(f"http://127.0.0.1:{bare_port}/docs")
        created = subprocess.run(
            [sys.executable, "-m", "dunning.cli", "tenants", "create", "Bench", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        tenant = json.loads(created.stdout)
        path = f"/v1/webhooks/stripe/{tenant['tenant_id']}"
        secret = tenant["stripe_webhook_secret"]
        print(f"signing {2 * (args.requests + args.warmup)} webhook bodies", flush=True)
        results = []
        for name, url in (("bare FastAPI", f"http://127.0.0.1:{bare_port}"), ("dunning ingest", dunning_url)):
            asyncio.run(
                drive(f"{name} warm-up", url, make_payloads(args.warmup, secret), path, args.concurrency)
            )
            results.append(
                asyncio.run(drive(name, url, make_payloads(args.requests, secret), path, args.concurrency))
            )
        print(f"fixed rate: {args.rate:g}/s for {args.duration:g}s each", flush=True)
        for name, url in (("bare FastAPI", f"http://127.0.0.1:{bare_port}"), ("dunning ingest", dunning_url)):
            payloads = make_payloads(int(args.rate * args.duration), secret)
            results.append(asyncio.run(fixed_rate(name, url, payloads, path, args.rate)))
    finally:
        for process in (dunning, bare):
            process.send_signal(signal.SIGTERM)
        for process in (dunning, bare):
            process.wait(60)
        log.close()

    bare_result, ingest_result = results[:2]
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()}"
    )
    print()
    print(f"machine: {machine}")
    print(
        f"{'target':<26} {'requests':>8} {'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    )
    for r in results:
        print(
            f"{r.target:<26} {r.requests:>8} {r.concurrency or '-':>5} {r.per_second:>9} "
            f"{r.p50_ms:>8} {r.p99_ms:>8} {r.errors:>6}"
        )
    ratio = ingest_result.per_second / bare_result.per_second
    print(
        f"ingest throughput is {ratio:.0%} of the bare endpoint's; "
        f"p99 {ingest_result.p99_ms} ms vs {bare_result.p99_ms} ms at saturation"
    )
    if len(results) == 4:
        print(f"at {args.rate:g}/s: ingest p99 {results[3].p99_ms} ms vs bare {results[2].p99_ms} ms")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps({"machine": machine, "results": [asdict(r) for r in results], "ratio": ratio}, indent=2)
    )
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
