"""Rollback and registry status (owner: ML engineer): who is champion, how it got there, and the way back.

Reads and moves aliases on the registered model; it never retrains or re-scores. A rollback moves
`champion` to the version that was champion before (or to `--to VERSION`), marks the version it replaces
as rolled back (so a second rollback goes further back instead of returning to it), and records who did
it and why on both versions. The running service follows the alias on its next registry poll.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.core.lineage import configure_mlflow
from pipelines.release.register import CHALLENGER, CHAMPION, PREVIOUS


class RollbackError(ValueError):
    """There is nothing valid to roll back to, or the requested version cannot serve."""


@dataclass(frozen=True)
class VersionStatus:
    version: str
    aliases: list[str]
    metrics: dict[str, str]
    data_version: str
    trigger: str
    gate: str
    reason: str
    promoted_by: str
    promoted_at: str
    rolled_back: str
    run_id: str


def _versions(client: Any, model_name: str) -> list[Any]:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException:
        raise FileNotFoundError(f"no registered model {model_name!r}; run `relay pipeline` first") from None
    return sorted(client.search_model_versions(f"name = '{model_name}'"), key=lambda m: int(m.version))


def status(tracking_uri: str, model_name: str) -> list[VersionStatus]:
    """Every version, oldest first, with its aliases, holdout metrics from the gate, and its history."""
    configure_mlflow(tracking_uri)
    from mlflow import MlflowClient

    client = MlflowClient()
    versions = _versions(client, model_name)
    aliases = client.get_registered_model(model_name).aliases or {}
    out = []
    for mv in versions:
        t = mv.tags
        rolled = t.get("relay.rolled_back_at", "")
        if rolled:
            rolled = f"{rolled} by {t.get('relay.rolled_back_by', '?')}: {t.get('relay.rolled_back_reason', '')}"
        out.append(
            VersionStatus(
                version=str(mv.version),
                aliases=sorted(a for a, v in aliases.items() if str(v) == str(mv.version)),
                metrics={k.removeprefix("metric."): v for k, v in t.items() if k.startswith("metric.")},
                data_version=t.get("relay.data_version", ""),
                trigger=t.get("relay.trigger", ""),
                gate=t.get("relay.gate", ""),
                reason=t.get("relay.gate_reason", ""),
                promoted_by=t.get("relay.promoted_by", ""),
                promoted_at=t.get("relay.promoted_at", ""),
                rolled_back=rolled,
                run_id=str(mv.run_id or ""),
            )
        )
    return out


def rollback_target(versions: list[Any], champion: str) -> Any | None:
    """The version that was champion most recently before `champion`: promoted once (it has
    `relay.promoted_at`), never rolled back, and not the champion itself."""
    earlier = [
        mv
        for mv in versions
        if str(mv.version) != champion and mv.tags.get("relay.promoted_at") and not mv.tags.get("relay.rolled_back_at")
    ]
    return max(earlier, key=lambda mv: (mv.tags["relay.promoted_at"], int(mv.version)), default=None)


def rollback(tracking_uri: str, model_name: str, *, to: str | None = None, reason: str, by: str) -> tuple[str, str]:
    """Move `champion` back; returns (from_version, to_version). Nothing changes if the target is invalid."""
    configure_mlflow(tracking_uri)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    versions = _versions(client, model_name)
    try:
        current = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        raise RollbackError(f"{model_name} has no champion, so there is nothing to roll back") from None
    by_number = {str(mv.version): mv for mv in versions}
    if to is not None:
        target = by_number.get(str(to))
        if target is None:
            raise RollbackError(f"{model_name} has no version {to}; versions: {', '.join(by_number)}")
        if str(target.version) == current:
            raise RollbackError(f"version {to} is already champion")
        if target.tags.get("relay.gate") != "passed":
            raise RollbackError(
                f"version {to} never passed the promotion gate "
                f"({target.tags.get('relay.gate_reason', 'not judged')}); roll back only to a version that did"
            )
    else:
        target = rollback_target(versions, current)
        if target is None:
            raise RollbackError(f"no earlier champion of {model_name} to roll back to (champion is version {current})")
    new = str(target.version)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    # Record first, then move the alias: if the move fails, the tags say what was attempted.
    rolled_back = {"relay.rolled_back_at": now, "relay.rolled_back_by": by, "relay.rolled_back_reason": reason}
    for key, value in rolled_back.items():
        client.set_model_version_tag(model_name, current, key, value)
    client.set_model_version_tag(model_name, new, "relay.promoted_by", f"{by} (rollback from version {current})")
    client.set_model_version_tag(model_name, new, "relay.promoted_at", now)
    client.set_registered_model_alias(model_name, CHAMPION, new)
    before = rollback_target(_versions(client, model_name), new)
    if before is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, str(before.version))
    else:
        with contextlib.suppress(MlflowException):
            client.delete_registered_model_alias(model_name, PREVIOUS)
    with contextlib.suppress(MlflowException):  # no challenger
        if str(client.get_model_version_by_alias(model_name, CHALLENGER).version) == new:
            client.delete_registered_model_alias(model_name, CHALLENGER)
    return current, new
