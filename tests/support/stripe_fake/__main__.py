"""``python -m tests.support.stripe_fake --host 127.0.0.1 --port N``: the fake as its own process."""

from __future__ import annotations

import argparse
import signal
from types import FrameType

import uvicorn
from tests.support.stripe_fake.app import create_app
from tests.support.stripe_fake.state import FakeStripe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.stripe_fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--seed", type=int, default=0, help="seeds IDs and random faults")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    app = create_app(FakeStripe(seed=args.seed))
    # uvicorn traps SIGTERM/SIGINT while serving, shuts down gracefully, then re-raises the signal
    # to whatever handler was there before: this one turns it into a normal exit status 0.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _exit)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


def _exit(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
