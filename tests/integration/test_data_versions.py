"""Data versions with real DVC: the catalog, checkout of an earlier version, and an S3 remote (moto on 127.0.0.1)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from pipelines.core.settings import Settings
from pipelines.data import catalog, ingest, version
from pipelines.flows.common import free_port

pytestmark = pytest.mark.integration


def _land_and_version(s: Settings, *batches: int) -> None:
    from dvc.repo import Repo

    for b in batches:
        ingest.run(f"batch-{b:04d}", ingest.generator_chunks(b, 400, 42), ingest.Landing.from_settings(s))
    with Repo(str(s.root)) as repo:
        repo.reproduce("version")
    catalog.record(s.root, s.dataset_dir, s.versions_catalog)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_versions_are_listed_and_an_earlier_one_restored(workspace: Path) -> None:
    s = Settings()
    _land_and_version(s, 1, 2)
    first, first_files = version.data_version(s.root), _files(s.dataset_dir)
    _land_and_version(s, 3)
    second = version.data_version(s.root)
    assert first != second
    listed = catalog.read(s.versions_catalog)
    assert [v.version for v in listed] == [first, second]
    assert listed[0].batches == ["batch-0001", "batch-0002"] and listed[1].rows == 1200

    restored = catalog.checkout(s.root, s.dataset_dir, s.versions_catalog, first[:8])
    assert restored.version == first
    assert _files(s.dataset_dir) == first_files
    assert version.data_version(s.root) == first  # what train would stamp on its MLflow run now
    catalog.checkout(s.root, s.dataset_dir, s.versions_catalog, second)
    assert version.data_version(s.root) == second
    assert len(pd.read_parquet(s.dataset_dir / "train")) + len(pd.read_parquet(s.dataset_dir / "holdout")) == 1200


def test_unknown_or_lost_version_changes_nothing(workspace: Path) -> None:
    s = Settings()
    _land_and_version(s, 1)
    lock, files = (s.root / "dvc.lock").read_text(), _files(s.dataset_dir)
    with pytest.raises(KeyError, match="no data version 'abcdef'"):
        catalog.checkout(s.root, s.dataset_dir, s.versions_catalog, "abcdef")
    with pytest.raises(ValueError, match="at least 6 characters"):
        catalog.checkout(s.root, s.dataset_dir, s.versions_catalog, "ab")
    # A version whose files are in neither the cache nor the remote: refused, workspace as it was.
    entry = catalog.read(s.versions_catalog)[0]
    ghost = entry.__dict__ | {"version": "f" * 32}
    ghost["stages"] = {k: dict(v) for k, v in entry.stages.items()}
    ghost["stages"]["version"] = {
        **entry.stages["version"],
        "outs": [{**entry.stages["version"]["outs"][0], "md5": "f" * 32 + ".dir"}],
    }
    with s.versions_catalog.open("a") as f:
        f.write(catalog.DataVersion(**ghost).to_json() + "\n")
    with pytest.raises(RuntimeError, match="neither the DVC cache nor the remote"):
        catalog.checkout(s.root, s.dataset_dir, s.versions_catalog, "ffffffff")
    assert (s.root / "dvc.lock").read_text() == lock
    assert _files(s.dataset_dir) == files


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 API (moto) on 127.0.0.1 with one bucket; stopped at the end of the test."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="relay-data")
        yield endpoint
    finally:
        server.stop()


def test_s3_remote_is_one_setting(workspace: Path, s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("RELAY_DVC_REMOTE", "s3://relay-data/dvc")
    s = Settings()
    _land_and_version(s, 1)
    pushed = version.push(s.root, s.dvc_remote)
    listed = boto3.client("s3", endpoint_url=s3).list_objects_v2(Bucket="relay-data", Prefix="dvc/")
    assert pushed > 0 and listed["KeyCount"] >= pushed
    assert not any((s.root / "local" / "dvc-remote").glob("**/*.dir"))  # the folder remote was not used

    # A fresh machine: no cache, no dataset. The version comes back from S3.
    first, files = version.data_version(s.root), _files(s.dataset_dir)
    _land_and_version(s, 2)
    shutil.rmtree(s.root / ".dvc" / "cache")
    shutil.rmtree(s.dataset_dir)
    catalog.checkout(s.root, s.dataset_dir, s.versions_catalog, first, remote_url=s.dvc_remote)
    assert _files(s.dataset_dir) == files
