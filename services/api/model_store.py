"""The champion model held by the service, loaded through MLflow only and swapped atomically.

A poller checks the registry's `champion` alias every `reload_interval_s`; a new champion is loaded on the
poller thread and only then swapped in, so requests in flight keep the model they started with. A champion
that fails to load leaves the old one serving and is reported in `/v1/model` and the logs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.contract import Task
from pipelines.core.scoring import outputs

log = logging.getLogger("relay.api.model")
ALIAS = "champion"


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    threshold: float | None  # a binary model's decision threshold
    data_version: str
    run_id: str
    loaded_at: datetime
    model: Any
    task: Task = "binary"
    classes: int = 2  # a classifier's number of classes

    def predict_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """A classifier's class probabilities (one row per record), or a regressor's values, for validated request
        records, built straight into the columns the model was fitted on (building the frame and then reordering
        it took twice as long for one record)."""
        columns = getattr(self.model, "feature_names_in_", None)
        frame = pd.DataFrame.from_records(records, columns=list(columns) if columns is not None else None)
        return outputs(self.model, frame, self.task, self.classes)


class ModelStore:
    def __init__(self, model_name: str, reload_interval_s: float, task: Task = "binary", classes: int = 2) -> None:
        self.model_name = model_name
        self.task, self.classes = task, classes
        self.reload_interval_s = reload_interval_s
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The poller and a reload request may ask at the same moment; one load at a time.
        self._refresh_lock = threading.Lock()

    def _load(self, version: str) -> LoadedModel:
        import mlflow.sklearn
        from mlflow import MlflowClient

        mv = MlflowClient().get_model_version(self.model_name, version)
        model = mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
        return LoadedModel(
            name=self.model_name,
            version=version,
            threshold=float(mv.tags["relay.threshold"]) if "relay.threshold" in mv.tags else None,
            data_version=mv.tags.get("relay.data_version", "unknown"),
            run_id=str(mv.run_id),
            loaded_at=datetime.now(UTC),
            model=model,
            task=self.task,
            classes=self.classes,
        )

    def prepare_loader(self) -> None:
        """Import what loading a model needs (MLflow's scikit-learn flavour and skops, the format the track
        stage logs in: about 1.5 s), so that a service started before any champion exists swaps the first one
        in within milliseconds of its promotion."""
        import mlflow.sklearn  # noqa: F401
        import skops.io  # noqa: F401

    def refresh(self) -> bool:
        """Load the champion if it differs from what is served; True if a new model was swapped in."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        with self._refresh_lock:
            try:
                version = str(MlflowClient().get_model_version_by_alias(self.model_name, ALIAS).version)
            except MlflowException as exc:
                self.last_error = f"no {ALIAS!r} alias for model {self.model_name!r}: {exc.message}"
                return False
            except Exception as exc:  # registry unreachable: keep serving what we have
                self.last_error = f"registry unreachable: {exc}"
                log.warning(self.last_error)
                return False
            if self.current is not None and self.current.version == version:
                return False
            try:
                loaded = self._load(version)
            except Exception as exc:
                self.last_error = f"champion version {version} failed to load: {exc}"
                log.error(self.last_error)
                return False
            previous = self.current.version if self.current else None
            self.current = loaded  # one reference assignment: requests see the old or the new model, never half
            self.last_error = None
            log.info("serving %s version %s (was %s)", self.model_name, version, previous)
            return True

    def start_polling(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="champion-poller", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.reload_interval_s):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
