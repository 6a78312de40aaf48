"""Chaos run: the services as separate processes, SIGKILLed and restarted while thousands of
failed-payment webhooks arrive, the broker restarted once; then DESIGN §4's guarantees, measured.

    PYTHONPATH=. .venv/bin/python bench/chaos.py --webhooks 2000

Prints a table on stdout (progress on stderr); exits 1 when an invariant is broken.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.support.chaos import ChaosConfig, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--webhooks", type=int, default=2000, help="invoices whose payment failed")
    parser.add_argument("--kills-per-role", type=int, default=3, help="SIGKILLs of each role")
    parser.add_argument("--broker-restarts", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=12, help="webhook senders at once")
    parser.add_argument("--settle-timeout", type=float, default=600.0, help="seconds to wait for quiet")
    parser.add_argument("--kill-gap", type=float, nargs=2, default=(2.0, 6.0), help="seconds between kills")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work-dir", type=Path, help="servers' data and logs (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dunning-chaos-") as tmp:
        work = args.work_dir or Path(tmp)
        config = ChaosConfig(
            work_dir=work,
            webhooks=args.webhooks,
            kills_per_role=args.kills_per_role,
            broker_restarts=args.broker_restarts,
            concurrency=args.concurrency,
            settle_timeout=args.settle_timeout,
            kill_gap=(args.kill_gap[0], args.kill_gap[1]),
            seed=args.seed,
        )
        report = run_chaos(config)
        print(report.table())
        broken = report.broken()
        if broken:
            print("\nBROKEN: " + "; ".join(broken) + f"\nlogs: {work / 'logs'}", file=sys.stderr)
            return 1
        print("\nall invariants hold")
        return 0


if __name__ == "__main__":
    sys.exit(main())
