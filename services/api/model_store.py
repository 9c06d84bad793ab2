"""The champion model held by the service, loaded through MLflow only and swapped atomically.

A poller checks the registry's `champion` alias every `reload_interval_s`; a new champion is loaded on the
poller thread and only then swapped in, so requests in flight keep the model they started with. A champion
that fails to load, or a registry that is missing or unreachable, leaves the old model serving (or none) and
is reported in `/v1/model`, `/health/ready` and the logs; the poller keeps trying, so the service heals by
itself when the registry comes back. It never creates a registry that is not there.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.contract import Contract, Task
from pipelines.core.scoring import outputs
from services.api.fast_path import FastPipeline, compile_pipeline, matches, probe_records  # part:fast-path

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
    # part:fast-path:begin
    # The exact fast path, when this model has one (services/api/fast_path.py).
    fast: FastPipeline | None = None
    # part:fast-path:end

    def predict_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """A classifier's class probabilities (one row per record), or a regressor's values, for validated request
        records, built straight into the columns the model was fitted on (building the frame and then reordering
        it took twice as long for one record)."""
        if self.fast is not None:  # the same answers, without pandas (services/api/fast_path.py)  # part:fast-path
            return self.fast.outputs(records, self.task, self.classes)  # part:fast-path
        columns = getattr(self.model, "feature_names_in_", None)
        frame = pd.DataFrame.from_records(records, columns=list(columns) if columns is not None else None)
        return outputs(self.model, frame, self.task, self.classes)


class ModelStore:
    def __init__(self, model_name: str, reload_interval_s: float, tracking_uri: str, contract: Contract) -> None:
        self.model_name = model_name
        self.tracking_uri = tracking_uri
        self.task, self.classes = contract.task, len(contract.labels)
        self.example = contract.example_record()  # to check a model's fast path against scikit-learn  # part:fast-path
        self.reload_interval_s = reload_interval_s
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self._store_seen: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The poller and a reload request may ask at the same moment; one load at a time.
        self._refresh_lock = threading.Lock()

    def _load(self, version: str) -> LoadedModel:
        import mlflow.sklearn
        from mlflow import MlflowClient

        mv = MlflowClient().get_model_version(self.model_name, version)
        model = mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
        # part:fast-path:begin
        fast = compile_pipeline(model)
        if fast is not None:
            probe = probe_records(fast, self.example)
            if not matches(fast, model, probe, self.task, self.classes):
                log.warning(
                    "version %s: the fast path differs from scikit-learn on a probe; using scikit-learn", version
                )
                fast = None
        log.info("version %s scores %s", version, "on the fast path" if fast else "through scikit-learn")
        # part:fast-path:end
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
            fast=fast,  # part:fast-path
        )

    def prepare_loader(self) -> None:
        """Import what loading a model needs (MLflow's scikit-learn flavour and skops, the format the track
        stage logs in: about 1.5 s), so that a service started before any champion exists swaps the first one
        in within milliseconds of its promotion."""
        import mlflow.sklearn  # noqa: F401
        import skops.io  # noqa: F401

    def refresh(self) -> str | None:
        """Load the champion if it differs from what is served. Returns why that failed (kept as `last_error`
        until a refresh succeeds), or None when the champion is what is served."""
        with self._refresh_lock:
            error = self._refresh()
            if error and error != self.last_error:  # once per new fault, not on every poll while it lasts
                log.warning(error)
            elif self.last_error and not error:
                log.info("serving %s version %s; resolved: %s", self.model_name, self.current_version, self.last_error)
            self.last_error = error
            return error

    @property
    def current_version(self) -> str | None:
        return self.current.version if self.current else None

    def _refresh(self) -> str | None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        from pipelines.core.lineage import require_store

        try:
            # MLflow would create an empty store where the real one went missing; look before asking it.
            require_store(self.tracking_uri)
            self._forget_a_replaced_store()
            version = str(MlflowClient().get_model_version_by_alias(self.model_name, ALIAS).version)
        except (FileNotFoundError, ConnectionError) as exc:
            return str(exc)
        except MlflowException as exc:
            return f"no {ALIAS!r} alias for model {self.model_name!r}: {exc.message}"
        except Exception as exc:  # registry unreachable: keep serving what we have
            return f"registry unreachable: {exc}"
        if self.current_version == version:
            return None
        try:
            loaded = self._load(version)
        except Exception as exc:
            return f"champion version {version} failed to load: {exc}"
        previous = self.current_version
        self.current = loaded  # one reference assignment: requests see the old or the new model, never half
        log.info("serving %s version %s (was %s)", self.model_name, version, previous)
        return None

    def _forget_a_replaced_store(self) -> None:
        """Drop MLflow's pooled connections when the SQLite file at the store's path is another file than
        before (a store deleted and made again, or restored from a backup): they would go on reading the old
        one, and the service would never see the new champion. MLflow keeps them per URI, for the process."""
        if not self.tracking_uri.startswith("sqlite:///"):
            return
        st = os.stat(self.tracking_uri.removeprefix("sqlite:///").split("?")[0])
        seen, self._store_seen = self._store_seen, (st.st_dev, st.st_ino)
        if seen is None or seen == self._store_seen:
            return
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

        for store in (RegistryStore, TrackingStore):
            engine = getattr(store, "_engine_map", {}).pop(self.tracking_uri, None)
            if engine is not None:
                engine.dispose()
        log.info("the store at %s is a new file; reconnected", self.tracking_uri)

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
