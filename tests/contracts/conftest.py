"""Helpers shared by the hand-off contract tests (the guard itself is `tests/contracts/handoff.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipelines.core.contract import Contract

PREDICT = "/v1/predict"
PREDICT_BATCH = "/v1/predict/batch"


def write_contract(root: Path, contract: Contract) -> Path:
    """`contract` as the `contract.yaml` of `root`, in the file's own format."""
    root.mkdir(parents=True, exist_ok=True)
    data = contract.model_dump(mode="json", by_alias=True, exclude_none=True)
    for column in data["columns"].values():
        column.pop("name", None)  # the key is the name
    path = root / "contract.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def service_openapi(contract: Contract, root: Path) -> dict[str, Any]:
    """The OpenAPI document the prediction service publishes in a project whose contract.yaml is `contract`.
    The app is built as `relay serve` builds it; describing the API needs no model."""
    from pipelines.core.settings import Settings
    from services.api.main import create_app

    write_contract(root, contract)
    return create_app(Settings(root=root)).openapi()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with a local `$ref` followed."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def request_schema(spec: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The JSON schema of the body a POST to `path` takes, or None when the document has no such operation."""
    operation = spec.get("paths", {}).get(path, {}).get("post")
    if operation is None:
        return None
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    return resolve(spec, body) if body else None
