"""The URL source (the url-source part): a download lands like a local file, and a failed, cut-short, overdue or
oversized one is named and stores nothing."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from pipelines.data import download, ingest
from pipelines.data.generator import generate_batch
from pipelines.data.sources import SourceError
from tests.helpers import ORDERS


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        if self.path == "/slow.csv":
            time.sleep(1.0)
        if self.path in ("/short.csv", "/drip.csv"):  # announces 200 bytes; sends 150 and closes, or drips them
            self.send_response(200)
            self.send_header("Content-Length", "200")
            self.end_headers()
            for _ in range(150 if self.path == "/short.csv" else 40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0 if self.path == "/short.csv" else 0.1)
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A file server on 127.0.0.1 for the URL source, stopped at the end of the test."""
    generate_batch(4, 300).drop(columns=["batch_id"]).to_csv(tmp_path / "w.csv", index=False)
    csv = (tmp_path / "w.csv").read_bytes()
    _Handler.files = {"/exports/2026-w04.csv": csv, "/slow.csv": csv}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_url_source_lands_and_cleans_up(server: str, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    result = download.from_url(
        f"{server}/exports/2026-w04.csv",
        ingest.Landing(contract=ORDERS, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q"),
        downloads,
    )
    assert (result.batch_id, result.rows, result.status) == ("2026-w04", 300, "landed")
    assert not any(downloads.iterdir())


@pytest.mark.parametrize(
    ("path", "limits", "message"),
    [
        ("/exports/missing.csv", download.Limits(timeout_s=5), "HTTP 404"),
        ("/slow.csv", download.Limits(timeout_s=0.2), r"timed out after 0\.2 s"),
        # Issue 21: a download cut short landed 150 of 200 rows; a drip of a byte at a time never timed out.
        ("/short.csv", download.Limits(timeout_s=5), "received 150 of the 200 bytes announced"),
        ("/drip.csv", download.Limits(timeout_s=5, deadline_s=1), r"not done after 1 s \(ingest.deadline_s\)"),
    ],
)
def test_url_failures_are_named_and_store_nothing(
    server: str, tmp_path: Path, path: str, limits: download.Limits, message: str
) -> None:
    raw, downloads = tmp_path / "raw", tmp_path / "downloads"
    with pytest.raises(SourceError, match=message):
        download.from_url(
            f"{server}{path}",
            ingest.Landing(contract=ORDERS, raw_dir=raw, quarantine_dir=tmp_path / "q"),
            downloads,
            limits=limits,
        )
    assert not raw.exists() or not any(raw.iterdir())
    assert not downloads.exists() or not any(downloads.iterdir())


def test_download_size_cap(server: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="larger than"):
        download.download(f"{server}/exports/2026-w04.csv", tmp_path / "d.csv", download.Limits(max_bytes=1000))
    assert not (tmp_path / "d.csv").exists()


def test_only_http_urls(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not an http"):
        download.download("file:///etc/passwd", tmp_path / "x.csv", download.Limits())
