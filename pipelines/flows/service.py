"""The prediction service as a process (MLOps engineer): start `relay serve`, wait for it, send it traffic,
stop it. The tests use these, as do `relay replay` (generated weeks, or any file) and the demo's flow.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd

from pipelines.core.settings import Settings
from pipelines.data.sources import ReadOptions


def poll_until(done: Callable[[], bool], timeout: float, failure: str) -> float:
    """Call `done` every 0.2 s until it is true; returns the seconds waited, or raises `failure` on timeout."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise RuntimeError(failure)
        time.sleep(0.2)
    return time.monotonic() - started


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 180) -> None:
    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the prediction service exited with code {proc.returncode}; see {log_path}")
        try:
            return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    poll_until(ready, timeout, f"the prediction service was not ready within {timeout:.0f} s; see {log_path}")


def stop_service(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


# part:teaching:begin
def launch_service(settings: Settings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `relay serve` on 127.0.0.1 and a free port; returns at once."""
    import sys

    from pipelines.flows.common import free_port

    port = free_port()
    relay = Path(sys.executable).parent / "relay"
    cmd = [str(relay)] if relay.exists() else [sys.executable, "-m", "pipelines.cli.main"]
    env = settings.child_env() | {"RELAY_RELOAD_INTERVAL_S": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=settings.root,
        )
    return proc, f"http://127.0.0.1:{port}"


def wait_for_version(url: str, version: str, timeout: float = 120) -> float:
    return poll_until(
        lambda: httpx.get(f"{url}/v1/model", timeout=5).json().get("version") == version,
        timeout,
        f"the service did not pick up version {version} within {timeout:.0f} s",
    )


def wait_for_log(url: str, rows: int, timeout: float = 120) -> None:
    """The service writes the log off the request path; wait until it holds every replayed prediction."""
    from pipelines.core.prediction_log import count_rows

    poll_until(
        lambda: count_rows(url) >= rows, timeout, f"the prediction log lacks some of {rows} rows after {timeout:.0f} s"
    )


# part:teaching:end
def replay_orders(url: str, batch: int, scenarios: list[str], settings: Settings, *, chunk: int = 50) -> int:
    """Send a generated week of orders (features only: labels arrive later) to a running service as live
    traffic, `chunk` records per request; returns how many were scored and logged."""
    from pipelines.data.generator import generate_batch

    p = settings.params.ingest
    orders = generate_batch(batch, p.rows_per_batch, p.seed, scenarios, with_label=False)
    missing = [c for c in settings.contract.feature_columns() if c not in orders.columns]
    if missing:
        raise ValueError(
            f"the generator makes the demo's orders, which lack {', '.join(missing)} of contract "
            f"{settings.contract.name!r}; send your own records with --file PATH"
        )
    return Replay(url, settings, chunk=chunk).send(orders)


def replay_file(url: str, path: Path, settings: Settings, *, options: ReadOptions, rate: float | None = None) -> int:
    """Send a CSV or Parquet file's records to a running service as live traffic, at most `rate` records a
    second; the contract's other columns (target, ids, ignored ones) stay behind, any column it does not
    know is refused by name before anything is sent."""
    from pipelines.data.sources import iter_file

    replay = Replay(url, settings, rate=rate)
    known = set(settings.contract.columns)
    sent = 0
    for chunk in iter_file(path, options):
        unknown = [c for c in chunk.columns if c not in known]
        missing = [c for c in settings.contract.feature_columns() if c not in chunk.columns]
        if unknown or missing:
            raise ValueError(
                f"{path}: columns do not match the contract: "
                + "; ".join(
                    f"{what} {', '.join(names)}"
                    for what, names in (("unknown", unknown), ("missing", missing))
                    if names
                )
            )
        sent += replay.send(chunk)
    return sent


class Replay:
    """Records to `/v1/predict/batch`, `chunk` per request, paced to `rate` records a second when given."""

    def __init__(self, url: str, settings: Settings, *, chunk: int = 50, rate: float | None = None) -> None:
        self.url, self.contract, self.chunk, self.rate = url, settings.contract, chunk, rate
        self.headers = {"X-API-Key": settings.api_key.get_secret_value()} if settings.api_key else {}
        self.started = time.monotonic()
        self.sent = 0

    def send(self, frame: pd.DataFrame) -> int:
        features = frame[self.contract.feature_columns()].copy()
        for name in self.contract.numeric_features():
            # Text from a CSV goes as a JSON number, as a client would send it.
            try:
                features[name] = pd.to_numeric(features[name])
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column {name!r} is numeric in the contract: {exc}") from None
        # Missing values travel as JSON null (NaN is not JSON); the API accepts null where the contract allows it.
        records = features.astype(object).where(features.notna(), None).to_dict(orient="records")
        with httpx.Client(base_url=self.url, timeout=30, headers=self.headers) as client:
            for start in range(0, len(records), self.chunk):
                part = records[start : start + self.chunk]
                if self.rate:  # at most `rate` records a second, counted from the first
                    time.sleep(max(0.0, (self.sent + len(part)) / self.rate - (time.monotonic() - self.started)))
                client.post("/v1/predict/batch", json={"records": part}).raise_for_status()
                self.sent += len(part)
        return len(records)
