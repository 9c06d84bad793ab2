"""Download (owner: data engineer): land a CSV or Parquet file from an HTTP(S) URL, as ingest lands a local one.

Part of the url-source part (`relay new --no-url-source` leaves it out). A download has a deadline per read
(`ingest.timeout_s`) and in all (`ingest.deadline_s`), a size cap (`ingest.max_download_mb`), and must bring
the bytes the server announced; whatever fails, its partial file is removed and nothing lands.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipelines.core.atomic import atomic_path
from pipelines.data import sources
from pipelines.data.ingest import IngestResult, Landing, check_batch_id, from_file
from pipelines.data.sources import SourceError


def url_name(url: str) -> str:
    """The file name at the end of a URL's path ('' if there is none)."""
    return Path(urllib.parse.urlparse(url).path).name


@dataclass(frozen=True)
class Limits:
    """What a download may take: seconds per read (ingest.timeout_s), seconds in all (ingest.deadline_s) and
    bytes (ingest.max_download_mb)."""

    timeout_s: float = 30.0
    deadline_s: float = 600.0
    max_bytes: int = 1 << 30


def download(url: str, dest: Path, limits: Limits) -> Path:
    """Fetch `url` to `dest` atomically; a failed, cut-short or overdue download leaves nothing behind."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise SourceError(f"{url!r} is not an http(s) URL")
    timeout_s, deadline = limits.timeout_s, time.monotonic() + limits.deadline_s
    try:
        with (
            urllib.request.urlopen(url, timeout=timeout_s) as response,
            atomic_path(dest) as tmp,
            tmp.open("wb") as out,
        ):
            announced, copied = response.headers.get("Content-Length", ""), 0
            # read1 returns what has arrived, so a server dripping bytes still meets the overall deadline.
            while block := response.read1(1 << 20):
                copied += len(block)
                if copied > limits.max_bytes:
                    raise SourceError(f"GET {url}: larger than {limits.max_bytes >> 20} MiB (ingest.max_download_mb)")
                if time.monotonic() > deadline:
                    raise SourceError(f"GET {url}: not done after {limits.deadline_s:g} s (ingest.deadline_s)")
                out.write(block)
            if announced.isdigit() and copied != int(announced):
                raise SourceError(f"GET {url}: received {copied} of the {announced} bytes announced; cut short")
    except urllib.error.HTTPError as exc:
        raise SourceError(f"GET {url} failed: HTTP {exc.code} {exc.reason}") from None
    except TimeoutError:
        raise SourceError(f"GET {url} timed out after {timeout_s:g} s (ingest.timeout_s)") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise SourceError(f"GET {url} timed out after {timeout_s:g} s (ingest.timeout_s)") from None
        raise SourceError(f"GET {url} failed: {exc.reason}") from None
    return dest


def from_url(
    url: str,
    landing: Landing,
    downloads: Path,
    *,
    batch: str | None = None,
    limits: Limits | None = None,
) -> IngestResult:
    """Download a CSV/Parquet file over HTTP(S), then land it like a local file; the download is removed after."""
    name = url_name(url)
    batch = batch or Path(name).stem
    if not batch:
        raise SourceError(f"{url}: the URL names no file; give the batch id (--batch-id)")
    check_batch_id(batch, landing.contract)
    fmt = landing.options.format
    suffix = Path(name).suffix if Path(name).suffix.lower() in sources.SUFFIXES else f".{fmt}"
    if fmt == "auto" and suffix == ".auto":
        raise SourceError(f"{url}: cannot tell CSV from Parquet by the name; set ingest.format")
    local = downloads / f"{batch}{suffix}"
    download(url, local, limits or Limits())
    try:
        return from_file(local, landing, batch=batch, origin=url)
    finally:
        local.unlink(missing_ok=True)
