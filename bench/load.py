"""Load benchmark (``make bench``): ingest versus a bare FastAPI endpoint; end-to-end latency
webhook → case opened → first email at a fixed rate, every role its own process; peak RSS of
each; the retry executor's due-attempt claim with 10k and 1M scheduled attempts.

    PYTHONPATH=. .venv/bin/python bench/load.py            # everything, defaults below
    PYTHONPATH=. .venv/bin/python bench/load.py --skip ingest --rate 20 --duration 60

Figures go to stdout as a table, to bench/results/load-<time>.json and bench/results/latest.md;
progress to stderr. Figures are printed, never asserted. What each one means: docs/bench.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ingest_throughput import IngestConfig, ingest_table, run_ingest, to_stderr
from bench.load_claim import run_claims
from bench.load_e2e import E2EConfig, run_e2e
from bench.load_report import STAGES, load_average, machine, markdown, spread_ms, text_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PARTS = ("ingest", "e2e", "claim")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip", action="append", choices=PARTS, default=[], help="leave a part out")
    parser.add_argument("--note", default="", help="a line for the report (e.g. what else the machine ran)")
    parser.add_argument("--work-dir", type=Path, help="servers' data and logs (default: a temp dir)")
    ingest = parser.add_argument_group("ingest vs bare FastAPI")
    ingest.add_argument("--requests", type=int, default=4000, help="closed loop, per target")
    ingest.add_argument("--concurrency", type=int, default=16)
    ingest.add_argument("--warmup", type=int, default=300)
    ingest.add_argument("--ingest-rate", type=float, default=100.0, help="fixed-rate phase, requests/s")
    ingest.add_argument("--ingest-duration", type=float, default=15.0, help="fixed-rate phase, seconds")
    e2e = parser.add_argument_group("end to end")
    e2e.add_argument("--rate", type=float, default=10.0, help="webhooks/s")
    e2e.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    e2e.add_argument("--e2e-warmup", type=int, default=5, help="webhooks sent and settled first, not counted")
    e2e.add_argument("--settle-timeout", type=float, default=180.0, help="seconds to wait for the last email")
    e2e.add_argument("--poll-seconds", type=float, help="retry/notify timer poll (default: the services')")
    claim = parser.add_argument_group("due-attempt claim")
    claim.add_argument("--claim-rows", type=int, nargs="+", default=[10_000, 1_000_000])
    claim.add_argument("--due-now", type=int, default=1000, help="of those, due now (the rest: next 30 days)")
    claim.add_argument("--claims", type=int, default=100, help="timed claims per size")
    args = parser.parse_args(argv)
    if args.due_now < args.claims * 10:
        parser.error("--due-now must be at least --claims x the executor's batch (10)")
    return args


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    doc: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "note": args.note,
        "load_average": {},
    }
    ingest_text = None
    with tempfile.TemporaryDirectory(prefix="dunning-load-") as tmp:
        work = args.work_dir or Path(tmp)
        if "ingest" not in args.skip:
            doc["load_average"]["ingest"] = load_average()
            config = IngestConfig(
                args.requests, args.concurrency, args.warmup, args.ingest_rate, args.ingest_duration
            )
            run = run_ingest(config)
            doc["ingest"] = run.as_json()
            ingest_text = ingest_table(run)
        if "e2e" not in args.skip:
            doc["load_average"]["e2e"] = load_average()
            e2e_config = E2EConfig(
                work_dir=work / "e2e",
                rate=args.rate,
                duration=args.duration,
                warmup=args.e2e_warmup,
                settle_timeout=args.settle_timeout,
                poll_seconds=args.poll_seconds,
            )
            e2e = run_e2e(e2e_config, to_stderr)
            doc["e2e"] = {
                "rate": e2e.rate,
                "duration": e2e.duration,
                "sent": e2e.sent,
                "errors": e2e.errors,
                "poll_seconds": e2e.poll_seconds,
                **{key: spread_ms(getattr(e2e, key.removesuffix("_ms"))) for key, _ in STAGES},
                "case_span_s": _rounded(e2e.case_span),
                "mail_span_s": _rounded(e2e.mail_span),
                "rss_mib": e2e.rss_mib,
            }
        if "claim" not in args.skip:
            doc["load_average"]["claim"] = load_average()
            claims = run_claims(
                work / "claim", args.claim_rows, due_now=args.due_now, claims=args.claims, progress=to_stderr
            )
            doc["claim"] = [c.summary() for c in claims]
    doc["load_average"]["end"] = load_average()
    doc["seconds"] = round(time.monotonic() - started, 1)
    print(text_table(doc, ingest_text))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"load-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    (RESULTS / "latest.md").write_text(markdown(doc))
    print(f"\nwritten to {out.relative_to(ROOT)} and bench/results/latest.md ({doc['seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
