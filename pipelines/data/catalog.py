"""Data versions (owner: data engineer): list the versions the data stages produced and restore one.

A data version is DVC's md5 of `data/dataset` as `dvc.lock` records it. Each time Relay sees a new one it
appends an entry to `data/versions.jsonl`: the version, when it was first seen, rows, batches, and the
`dvc.lock` entries of the data stages that produced it. Restoring a version writes those entries back into
`dvc.lock` and lets DVC check the files out of its cache (fetching from the remote when the cache lacks
them), which is what `git checkout <rev> -- dvc.lock && dvc checkout` does for versions committed to git.
Commit `data/versions.jsonl` together with `dvc.lock` to share the list with the team.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pipelines.core.atomic import atomic_path
from pipelines.core.dataset import read_manifest
from pipelines.data.version import remote_config

DATA_STAGES = ("validate", "version")
DATASET_OUT = "data/dataset"
MIN_PREFIX = 6


@dataclass(frozen=True)
class DataVersion:
    version: str
    created_at: str
    rows: int
    train_rows: int
    holdout_rows: int
    batches: list[str]
    contract: str
    stages: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def _locked(root: Path) -> tuple[str, dict[str, Any]]:
    """The version `dvc.lock` records now, and the data stages' entries that produced it."""
    path = root / "dvc.lock"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the data stages first (`relay pipeline` or `dvc repro`)")
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
    missing = [s for s in DATA_STAGES if s not in stages]
    if missing:
        raise KeyError(f"dvc.lock has no entry for stage(s) {', '.join(missing)}: run `dvc repro version` first")
    out = next((o for o in stages["version"].get("outs", []) if o.get("path") == DATASET_OUT), None)
    if out is None:
        raise KeyError(f"dvc.lock has no output {DATASET_OUT!r} for stage 'version'")
    return str(out["md5"]).removesuffix(".dir"), {s: stages[s] for s in DATA_STAGES}


def read(path: Path) -> list[DataVersion]:
    """Every recorded version, oldest first. A damaged line is named rather than skipped."""
    if not path.is_file():
        return []
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(DataVersion(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}:{number} is not a data version entry ({exc}); fix or remove that line") from None
    return found


def record(root: Path, dataset_dir: Path, catalog: Path) -> DataVersion:
    """Append the current version to the catalog unless it is there already; return it as recorded."""
    known = {v.version: v for v in read(catalog)}
    version, stages = _locked(root)
    if version in known:
        return known[version]
    m = read_manifest(dataset_dir)  # describes the data `dvc.lock` points at now
    now = DataVersion(
        version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rows=m.rows,
        train_rows=m.train_rows,
        holdout_rows=m.holdout_rows,
        batches=sorted(m.batches),
        contract=m.contract,
        stages=stages,
    )
    existing = catalog.read_text() if catalog.is_file() else ""
    with atomic_path(catalog) as tmp:
        tmp.write_text(existing + ("" if not existing or existing.endswith("\n") else "\n") + now.to_json() + "\n")
    return now


def find(catalog: Path, version: str) -> DataVersion:
    """A recorded version by its md5 or an unambiguous prefix of it (at least 6 characters)."""
    if len(version) < MIN_PREFIX:
        raise ValueError(f"give at least {MIN_PREFIX} characters of the version, got {version!r}")
    matches = [v for v in read(catalog) if v.version.startswith(version)]
    if not matches:
        raise KeyError(f"no data version {version!r} in {catalog}; `relay data versions` lists them")
    if len(matches) > 1:
        raise ValueError(f"{version!r} matches {len(matches)} versions; give more characters")
    return matches[0]


def checkout(root: Path, dataset_dir: Path, catalog: Path, version: str, *, remote_url: str = "") -> DataVersion:
    """Restore `data/validated` and `data/dataset` of a recorded version and point `dvc.lock` at it.

    The current version is recorded first, so it can be restored again. If DVC cannot produce the files
    (not in the cache, not on the remote), `dvc.lock` is put back as it was and the error says so.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    target = find(catalog, version)
    # No current version in this workspace (fresh clone, wiped data) means nothing to keep a record of.
    with contextlib.suppress(FileNotFoundError):
        record(root, dataset_dir, catalog)
    lock_path = root / "dvc.lock"
    before = lock_path.read_text()
    lock = yaml.safe_load(before) or {}
    lock.setdefault("stages", {}).update(target.stages)
    with atomic_path(lock_path) as tmp:
        tmp.write_text(yaml.safe_dump(lock, sort_keys=False))
    try:
        with Repo(str(root), config=remote_config(remote_url)) as repo:
            # Offline or no remote: the local cache may still hold the files, and checkout will say if not.
            with contextlib.suppress(DvcException):
                repo.fetch(targets=list(DATA_STAGES))
            repo.checkout(targets=list(DATA_STAGES), force=True)
    except DvcException as exc:
        with atomic_path(lock_path) as tmp:
            tmp.write_text(before)
        with Repo(str(root)) as repo:
            repo.checkout(targets=list(DATA_STAGES), force=True)
        raise RuntimeError(
            f"cannot restore data version {target.version[:10]}: {exc}; "
            "its files are in neither the DVC cache nor the remote. dvc.lock and the data are as they were"
        ) from None
    return target
