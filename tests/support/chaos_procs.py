"""The chaos run's processes: every service role as its own ``dunning serve ROLE`` process, which
the run SIGKILLs and starts again, and the Stripe fake as a process of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from dunning.common.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
DUNNING = [sys.executable, "-m", "dunning.cli"]


@dataclass
class Replica:
    """One replica of a role on a fixed port: a restart comes back where the old one was."""

    role: str
    index: int
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    crashes: list[int] = field(default_factory=list)  # exit statuses of deaths we did not cause
    _killed: bool = False
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.alive():
            return
        self.note_crash()
        self._killed = False
        if self._log is None:
            self._log = self.log_path.open("ab")
        env = {**self.env, "DUNNING_HTTP_PORT": str(self.port), "POD_NAME": f"{self.name}-{self.starts}"}
        self.process = subprocess.Popen(
            [*DUNNING, "serve", self.role],
            env=env,
            cwd=REPO,
            stdout=self._log,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
        )
        self.starts += 1

    def note_crash(self) -> None:
        """Count it if the process is gone and we did not kill it (then it crashed)."""
        process = self.process
        if process is not None and process.poll() is not None and not self._killed:
            self.crashes.append(process.returncode)
            self._killed = True  # counted once

    def sigkill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.kills += 1
            self._killed = True

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a clean stop), SIGKILL when it does not come; its exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up within {timeout}s; see {self.log_path}")


class Fleet:
    """Every replica of every role."""

    def __init__(self, env: dict[str, str], replicas: dict[str, int], log_dir: Path) -> None:
        self.replicas = [
            Replica(role, i, free_port(), env, log_dir / f"{role}-{i}.log")
            for role, count in replicas.items()
            for i in range(count)
        ]

    def of(self, role: str) -> list[Replica]:
        return [r for r in self.replicas if r.role == role]

    def start_all(self) -> None:
        for replica in self.replicas:
            replica.start()
        for replica in self.replicas:
            replica.wait_healthy()

    def ensure_running(self) -> None:
        for replica in self.replicas:
            replica.start()

    def crashes(self) -> dict[str, list[int]]:
        for replica in self.replicas:
            replica.note_crash()
        return {r.name: r.crashes for r in self.replicas if r.crashes}

    def stop_all(self) -> dict[str, int | None]:
        return {replica.name: replica.stop() for replica in self.replicas}


class StripeFakeProcess:
    """``python -m tests.support.stripe_fake`` on a free port."""

    def __init__(self, log_path: Path, seed: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.stripe_fake",
                "--port",
                str(self.port),
                "--seed",
                str(seed),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=self._log,
            stderr=self._log,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(self.url + "/_fake/charges/summary", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
