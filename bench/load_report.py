"""The load run's report: the machine it ran on, latency spreads, and the figures as a plain-text
table (stdout) and as markdown (``bench/results/latest.md``, pasted into the README)."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import psutil

STAGES = (
    ("ack_ms", "POST → 2xx from ingest"),
    ("case_ms", "POST → case opened (committed)"),
    ("mail_ms", "POST → first email at the SMTP server"),
)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    return {
        "cpu": cpu,
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def spread_ms(seconds: list[float]) -> dict[str, float | int]:
    """p50/p90/p99/max (nearest rank) in milliseconds, and how many values."""
    if not seconds:
        return {"n": 0}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 1)

    return {"n": len(ordered), "p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": rank(1.0)}


def _spans(e2e: dict[str, Any]) -> str:
    """Whether the system kept up: when the last case and the last first email came, after the
    first measured send (sending itself took ``duration``)."""
    parts = []
    for key, what, stage in (
        ("case_span_s", "case opened", "case_ms"),
        ("mail_span_s", "first email", "mail_ms"),
    ):
        span = e2e.get(key)
        if span:
            parts.append(f"last {what} {span:g} s after the first send ({e2e[stage]['n'] / span:.1f}/s)")
    return f"Sending took {e2e['duration']:g} s; " + "; ".join(parts) + "." if parts else ""


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _machine_line(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    return (
        f"{m['cpu']} ({m['arch']}), {m['cores']} cores, {m['ram_gib']} GiB RAM, Python {m['python']}, "
        f"{m['os']}; {doc['started'][:16].replace('T', ' ')} UTC"
    )


def _load_line(doc: dict[str, Any]) -> str:
    return "; ".join(f"{part} {' / '.join(map(str, avg))}" for part, avg in doc["load_average"].items())


def _busy(doc: dict[str, Any]) -> str:
    """A warning when something else kept the CPUs busy: then these figures say little."""
    peak = max((avg[0] for avg in doc["load_average"].values()), default=0.0)
    cores = doc["machine"]["cores"] or 1
    if peak <= cores:
        return ""
    return (
        f"The machine was busy: 1-minute load average up to {peak:g} on {cores} cores (the benchmark's "
        "own earlier parts count in it too); figures from a quiet machine would be better."
    )


def text_table(doc: dict[str, Any], ingest_text: str | None) -> str:
    out = [f"machine: {_machine_line(doc)}", f"load average (1/5/15 min) before each part: {_load_line(doc)}"]
    out += [line for line in (_busy(doc), doc.get("note")) if line]
    if ingest_text is not None:
        out += ["", "== ingest vs a bare FastAPI endpoint (same run, same client) ==", ingest_text]
    if (e2e := doc.get("e2e")) is not None:
        poll = e2e["poll_seconds"] or "service defaults"
        out += [
            "",
            f"== end to end at {e2e['rate']:g} webhooks/s for {e2e['duration']:g} s "
            f"({e2e['sent']} sent, {e2e['errors']} errors; one process per role; timer poll: {poll}) ==",
            f"{'stage':<40} {'n':>5} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}",
        ]
        for key, label in STAGES:
            s = e2e[key]
            cells = " ".join(f"{s.get(k, '-'):>9}" for k in ("p50", "p90", "p99", "max"))
            out.append(f"{label:<40} {s['n']:>5} {cells}")
        out.append(_spans(e2e))
        out += ["", "== peak RSS (VmHWM) of each service process during the end-to-end run =="]
        out += [f"{role:<8} {mib:>7.1f} MiB" for role, mib in e2e["rss_mib"].items()]
    if claims := doc.get("claim"):
        out += [
            "",
            f"== due-attempt claim: attempt_store.claim_due, batch {claims[0]['batch']}, transaction "
            "and commit included ==",
            f"{'scheduled rows':>14} {'due now':>8} {'claims':>7} {'claimed':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'max ms':>8} {'seed s':>7}",
        ]
        for c in claims:
            out.append(
                f"{c['rows']:>14,} {c['due_now']:>8,} {c['claims']:>7} {c['claimed_total']:>8} "
                f"{c['p50_ms']:>8} {c['p99_ms']:>8} {c['max_ms']:>8} {c['seed_seconds']:>7}"
            )
        out.append("plans (EXPLAIN ANALYZE of the statements claim_due sends):")
        out += [
            f"  {c['rows']:>9,} rows, {name}: {scan}" for c in claims for name, scan in c["scans"].items()
        ]
    return "\n".join(out)


def markdown(doc: dict[str, Any]) -> str:
    out = [
        f"Machine: {_machine_line(doc)}. Load average (1/5/15 min) before each part: {_load_line(doc)}.",
    ]
    out += [f"*{line}*" for line in (_busy(doc), doc.get("note")) if line]
    if (ingest := doc.get("ingest")) is not None:
        cfg = ingest["config"]
        out += [
            "",
            f"**Ingest vs a bare FastAPI endpoint** (closed loop, {cfg['concurrency']} connections, "
            f"{cfg['requests']} webhooks each; then {cfg['rate']:g}/s for {cfg['duration']:g} s):",
            "",
            "| target | req/s | p50 | p99 | errors |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in ingest["results"]:
            out.append(
                f"| {r['target']} | {r['per_second']} | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['errors']} |"
            )
        out += ["", f"Ingest's throughput is **{ingest['ratio']:.0%}** of the bare endpoint's."]
    if (e2e := doc.get("e2e")) is not None:
        poll = f"{e2e['poll_seconds']:g} s" if e2e["poll_seconds"] else "the services' defaults"
        out += [
            "",
            f"**End to end** at {e2e['rate']:g} webhooks/s for {e2e['duration']:g} s "
            f"({e2e['sent']} webhooks, {e2e['errors']} errors; one process per role; timer poll {poll}):",
            "",
            "| stage | n | p50 | p90 | p99 | max |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key, label in STAGES:
            s = e2e[key]
            cells = " | ".join(_duration(s[k]) if k in s else "-" for k in ("p50", "p90", "p99", "max"))
            out.append(f"| {label} | {s['n']} | {cells} |")
        rss = " · ".join(f"{role} {mib:.0f} MiB" for role, mib in e2e["rss_mib"].items())
        out += ["", _spans(e2e), "", f"**Peak RSS** (VmHWM) during that run: {rss}."]
    if claims := doc.get("claim"):
        out += [
            "",
            f"**Due-attempt claim** (`attempt_store.claim_due`, batch {claims[0]['batch']}, "
            "with its commit):",
            "",
            "| scheduled rows | due now | claims | p50 | p99 | max | plan |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for c in claims:
            plan = "; ".join(f"{name}: {scan}" for name, scan in c["scans"].items())
            out.append(
                f"| {c['rows']:,} | {c['due_now']:,} | {c['claims']} | {c['p50_ms']} ms | {c['p99_ms']} ms "
                f"| {c['max_ms']} ms | {plan} |"
            )
    return "\n".join(out) + "\n"
