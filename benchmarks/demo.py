"""Time `relay demo`: per stage, cold (fresh clone) and warm (re-run in the same clone); or against another commit.

Usage: python benchmarks/demo.py [--runs N] [--record docs/benchmarks.md]
       python benchmarks/demo.py --against REV [--runs N] [--record docs/benchmarks.md]

Each run is a real `relay demo` subprocess in a fresh `git clone` of this repository. The per-stage seconds come
from the demo's own `reports/demo/summary.json`; the total is the wall time of the whole command, Prefect's
temporary server included.

With --against, HEAD and REV each get their own environment, installed from their own uv.lock (the demo's
dependencies only, with the same uv cache) and their own Prefect home, warmed by one trivial flow: their
Prefect versions may not share a database. Every timed run is then `relay demo` in a fresh clone of its commit:
empty DVC cache, no MLflow store, no data. The rounds alternate which commit runs first, so a machine that
slows down or speeds up during the benchmark does not favour either; the ratio of each round is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "validate", "version", "train", "evaluate", "track", "register", "serve", "monitor", "retrain")
BEGIN, END = "<!-- bench-demo:begin -->", "<!-- bench-demo:end -->"
VS_BEGIN, VS_END = "<!-- bench-demo-against:begin -->", "<!-- bench-demo-against:end -->"


def run_demo(root: Path, relay: Path | None = None, extra_env: dict[str, str] | None = None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")} | (extra_env or {})
    relay = relay or Path(sys.executable).parent / "relay"
    started = time.perf_counter()
    log = root.parent / f"demo-{time.time_ns()}.log"
    with log.open("w") as out:
        code = subprocess.run(
            [str(relay), "demo"], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False
        ).returncode
    if code != 0:
        sys.exit(f"relay demo failed with exit code {code}:\n" + log.read_text()[-4000:])
    total = time.perf_counter() - started
    # Plain JSON, not DemoSummary: --against runs older commits, whose summary had other fields.
    summary = json.loads((root / "reports" / "demo" / "summary.json").read_text())
    return {**summary["stage_seconds"], "total": total}


def table(results: dict[str, list[dict[str, float]]]) -> str:
    cols = list(results)
    lines = ["| stage | " + " | ".join(f"{c} (s)" for c in cols) + " |", "|---|" + "---:|" * len(cols)]
    for stage in (*STAGES, "total"):
        cells = [f"{statistics.median([r.get(stage, 0.0) for r in results[c]]):.1f}" for c in cols]
        label = f"**{stage}** (wall)" if stage == "total" else stage
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def _git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _uv() -> str:
    found = shutil.which("uv") or str(REPO / ".uv" / "bin" / "uv")
    if not Path(found).exists():
        sys.exit("uv is needed to install each commit's environment: run `make install` first")
    return found


class Commit:
    """One commit's environment (installed from its own lock) and warm Prefect home, under `work`."""

    def __init__(self, rev: str, work: Path) -> None:
        self.rev = rev
        self.sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
        self.label = f"{rev} ({self.sha[:7]})" if not rev.startswith(self.sha[:7]) else self.sha[:7]
        self.work = work / self.sha[:12]
        self.env_clone = self.work / "env"
        self.prefect_home = self.work / "prefect"
        self.runs = 0

    def install(self) -> float:
        _git("clone", "-q", str(REPO), str(self.env_clone))
        _git("checkout", "-q", self.sha, cwd=self.env_clone)
        started = time.perf_counter()
        subprocess.run(
            [_uv(), "sync", "--frozen", "--no-dev", "--compile-bytecode", "--quiet", "--python", sys.executable],
            cwd=self.env_clone,
            check=True,
            env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        )
        took = time.perf_counter() - started
        warm = "from prefect import flow\n@flow(name='relay-bench-warmup')\ndef f(): pass\nf()"
        subprocess.run(
            [str(self.bin / "python"), "-c", warm],
            check=True,
            capture_output=True,
            timeout=300,
            env=os.environ | {"PREFECT_HOME": str(self.prefect_home)},
        )
        return took

    @property
    def bin(self) -> Path:
        return self.env_clone / ".venv" / "bin"

    def demo(self) -> float:
        """`relay demo` in a fresh clone of this commit; its wall time."""
        self.runs += 1
        clone = self.work / f"run-{self.runs}"
        _git("clone", "-q", str(REPO), str(clone))
        _git("checkout", "-q", self.sha, cwd=clone)
        path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        took = run_demo(clone, self.bin / "relay", {"PREFECT_HOME": str(self.prefect_home), "PATH": path})["total"]
        shutil.rmtree(clone, ignore_errors=True)
        return took


def against(rev: str, runs: int, record: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-vs-") as tmp:
        head, base = Commit("HEAD", Path(tmp)), Commit(rev, Path(tmp))
        if head.sha == base.sha:
            sys.exit(f"{rev} is HEAD itself: commit your change first, or name an older commit")
        for c in (head, base):
            print(f"installing {c.label} ({c.install():.1f} s) and warming its Prefect home", file=sys.stderr)
        rows = []
        for i in range(runs):
            order = (head, base) if i % 2 == 0 else (base, head)
            took = {c.sha: c.demo() for c in order}
            rows.append((took[head.sha], took[base.sha]))
            print(f"round {i + 1}: HEAD {rows[-1][0]:.1f} s, {base.label} {rows[-1][1]:.1f} s", file=sys.stderr)
    ratios = [b / h for h, b in rows]
    lines = [
        f"| round | HEAD {head.sha[:7]} (s) | {base.label} (s) | ratio |",
        "|---:|---:|---:|---:|",
        *(f"| {i + 1} | {h:.1f} | {b:.1f} | {b / h:.2f}x |" for i, (h, b) in enumerate(rows)),
        f"| median | {statistics.median(h for h, _ in rows):.1f} | {statistics.median(b for _, b in rows):.1f} "
        f"| {statistics.median(ratios):.2f}x |",
    ]
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}: `python benchmarks/demo.py --against {rev} "
        f"--runs {runs}`. Each run is `relay demo` in a fresh clone of its commit (empty DVC cache, no stores), "
        "each commit with its own environment from its own lock and its own warm Prefect home; rounds alternate "
        f"which commit goes first. Ratio: {base.label}'s wall time over HEAD's; lowest {min(ratios):.2f}x, "
        f"highest {max(ratios):.2f}x."
    )
    body = header + "\n\n" + "\n".join(lines)
    print(body)
    if record:
        text = record.read_text()
        if VS_BEGIN not in text:
            sys.exit(f"{record} has no {VS_BEGIN} ... {VS_END} section to replace")
        start, end = text.index(VS_BEGIN) + len(VS_BEGIN), text.index(VS_END)
        record.write_text(text[:start] + "\n" + body + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per commit (with --against) or cold+warm pairs")
    parser.add_argument("--against", metavar="REV", help="an older commit to time side by side with HEAD")
    parser.add_argument("--record", type=Path, help="markdown file whose bench-demo section is replaced")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.against:
        against(args.against, args.runs, args.record)
        return
    # Prefect's temporary server creates its database under PREFECT_HOME once per machine; time that apart so
    # the runs below measure the demo itself.
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from prefect import flow\n@flow(name='relay-bench-warmup')\ndef f(): pass\nf()"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    setup = time.perf_counter() - started
    results: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
            clone = Path(tmp) / "relay"
            subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
            for kind in ("cold", "warm"):
                results[kind].append(run_demo(clone))
                print(f"run {i + 1} {kind}: {results[kind][-1]['total']:.1f} s", file=sys.stderr)
            shutil.rmtree(clone, ignore_errors=True)
    body = table(results)
    body += "\n\nEvery run's wall time (s): " + "; ".join(
        f"{kind} " + ", ".join(f"{r['total']:.1f}" for r in runs) for kind, runs in results.items()
    )
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}, median of {args.runs} run(s). "
        "Cold: fresh clone, empty DVC cache. "
        "Warm: the same clone again (DVC restores train from its run cache; validate and version, "
        "whose outputs persist, run again). Before the runs, "
        f"Prefect's first flow in this process tree took {setup:.1f} s (with its one-time database setup if "
        "this machine had none yet)."
    )
    print(header + "\n\n" + body)
    if args.record:
        text = args.record.read_text() if args.record.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        args.record.write_text(text[:start] + "\n" + header + "\n\n" + body + "\n" + text[end:])


if __name__ == "__main__":
    main()
