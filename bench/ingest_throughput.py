"""Ingest benchmark: accepted webhooks/s and latency of `dunning run` versus a bare FastAPI endpoint.

Both servers run in this one invocation, on this machine, under the same uvicorn, driven by
the same client with the same signed bodies, so the ratio is what ingest's work costs:
signature check, dedupe, raw-event insert and outbox row, committed before the answer.

    PYTHONPATH=. .venv/bin/python bench/ingest_throughput.py --requests 4000

``make bench`` runs it as the first part of ``bench/load.py``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers

from dunning.common.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


Progress = Callable[[str], None]


def to_stderr(line: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {line}\n")
    sys.stderr.flush()


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
    name: str,
    base_url: str,
    payloads: list[tuple[bytes, dict[str, str]]],
    path: str,
    concurrency: int,
    progress: Progress = to_stderr,
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
                    progress(f"  {name}: {len(latencies)}/{total}")
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


@dataclass
class IngestConfig:
    requests: int = 4000
    concurrency: int = 16
    warmup: int = 300
    rate: float = 100.0  # fixed-rate phase, requests/s
    duration: float = 15.0  # fixed-rate phase, seconds


@dataclass
class IngestRun:
    config: IngestConfig
    results: list[Result] = field(default_factory=list)  # bare, ingest closed loop; then fixed rate

    @property
    def ratio(self) -> float:
        """Ingest's closed-loop throughput as a share of the bare endpoint's."""
        bare, ingest = self.results[:2]
        return ingest.per_second / bare.per_second

    def as_json(self) -> dict[str, object]:
        return {
            "config": asdict(self.config),
            "results": [asdict(r) for r in self.results],
            "ratio": self.ratio,
        }


def run_ingest(config: IngestConfig, progress: Progress = to_stderr) -> IngestRun:
    """``dunning run`` and the bare endpoint side by side, closed loop then fixed rate."""
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
    progress(f"ingest: starting dunning run and the bare endpoint (work dir {work})")
    log = (work / "servers.log").open("ab")
    dunning = subprocess.Popen([sys.executable, "-m", "dunning.cli", "run"], env=env, stdout=log, stderr=log)
    uvicorn = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port)]
    quiet = ["--log-level", "warning", "--no-access-log"]
    bare = subprocess.Popen([*uvicorn, *quiet], cwd=ROOT, stdout=log, stderr=log)
    run = IngestRun(config)
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
        targets = (("bare FastAPI", f"http://127.0.0.1:{bare_port}"), ("dunning ingest", dunning_url))
        progress(f"ingest: signing {2 * (config.requests + config.warmup)} webhook bodies")
        for name, url in targets:
            warmup = make_payloads(config.warmup, secret)
            asyncio.run(drive(f"{name} warm-up", url, warmup, path, config.concurrency, progress))
            payloads = make_payloads(config.requests, secret)
            run.results.append(asyncio.run(drive(name, url, payloads, path, config.concurrency, progress)))
        progress(f"ingest: fixed rate {config.rate:g}/s for {config.duration:g}s each")
        for name, url in targets:
            payloads = make_payloads(int(config.rate * config.duration), secret)
            run.results.append(asyncio.run(fixed_rate(name, url, payloads, path, config.rate)))
    finally:
        for process in (dunning, bare):
            process.send_signal(signal.SIGTERM)
        for process in (dunning, bare):
            process.wait(60)
        log.close()
    # Kept when the run failed (the servers' log is in it); a finished run's is only data.
    shutil.rmtree(work, ignore_errors=True)
    return run


def ingest_table(run: IngestRun) -> str:
    lines = [
        f"{'target':<26} {'requests':>8} {'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    ]
    for r in run.results:
        lines.append(
            f"{r.target:<26} {r.requests:>8} {r.concurrency or '-':>5} {r.per_second:>9} "
            f"{r.p50_ms:>8} {r.p99_ms:>8} {r.errors:>6}"
        )
    bare, ingest = run.results[:2]
    lines.append(
        f"ingest throughput is {run.ratio:.0%} of the bare endpoint's; "
        f"p99 {ingest.p99_ms} ms vs {bare.p99_ms} ms at saturation"
    )
    if len(run.results) == 4:
        bare_fixed, ingest_fixed = run.results[2:]
        lines.append(
            f"at {run.config.rate:g}/s: ingest p99 {ingest_fixed.p99_ms} ms vs bare {bare_fixed.p99_ms} ms"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0, help="fixed-rate phase, requests/s")
    parser.add_argument("--duration", type=float, default=15.0, help="fixed-rate phase, seconds")
    args = parser.parse_args()
    run = run_ingest(IngestConfig(args.requests, args.concurrency, args.warmup, args.rate, args.duration))
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()}"
    )
    print()
    print(f"machine: {machine}")
    print(ingest_table(run))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"machine": machine, **run.as_json()}, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
