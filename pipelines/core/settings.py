"""Where things live: every path and URI Relay uses, in one object, overridable by `RELAY_*` variables.

Defaults are embedded stores that need nothing installed (MLflow on SQLite, a folder DVC remote,
a SQLite prediction log). Production-like set-ups change a setting, not code, e.g.
`RELAY_MLFLOW_TRACKING_URI=postgresql://...` or `RELAY_PREDICTION_LOG_URL=postgresql://...`.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
)

from pipelines.core.contract import Contract
from pipelines.core.contract import load as load_contract
from pipelines.core.params import Params, load_params

# Defaults for the tools Relay drives: no telemetry (its "database is locked" noise confuses newcomers), and no
# progress bars or INFO chatter in the demo's output. MLflow reads its log level from the environment when it
# is imported, so a logger level set later would be overwritten. A value the user set always wins.
TOOL_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "DVC_NO_ANALYTICS": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "DO_NOT_TRACK": "1",
    "GIT_PYTHON_REFRESH": "quiet",
    # Prefect's server records task runs and events one write at a time. On SQLite (the temporary server each
    # flow starts when no PREFECT_API_URL is set, or a local one) those writes collide with the tag-concurrency
    # check every tagged task makes: the server answers "busy" and the client retries after 2 s. That was 16
    # of the demo's 81 s. Batched writes (still flushed every 5 s) leave no collisions.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "100",
    # The temporary server's first start creates its database; Prefect gives it 20 s, which a busy 2-core
    # machine exceeded (a fresh container's `relay pipeline` failed "Timed out while attempting to connect
    # to ephemeral Prefect API server"). Prefect returns as soon as the server answers; this is only a bound.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def apply_tool_env() -> None:
    """Set TOOL_ENV defaults in this process; call before MLflow or Prefect are imported.

    It also imports scipy.special ahead of them (0.15 s where nothing else would). skops, the model files'
    safe format, looks up each of its ~300 functions (they carry no `__module__`) by walking the modules
    imported before scipy.special: in a test process that had imported Prefect and MLflow first, skops'
    trusted-types module spent 2.16 s of its own time, 0.30 s with scipy.special imported here."""
    import scipy.special  # noqa: F401

    for key, value in TOOL_ENV.items():
        os.environ.setdefault(key, value)
    # PREFECT_HOME stays Prefect's own (default ~/.prefect), so a user's Prefect profile, e.g. a server set
    # with `prefect config set PREFECT_API_URL=...`, applies to Relay's flows too. Prefect creates that folder
    # without its parents and then cannot open its database, so make sure it exists when one is given.
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder upwards holding `dvc.yaml`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return here


class Settings(BaseSettings):
    """Every setting, read from (first wins) the arguments, `RELAY_*` environment variables, and the project's
    own `[tool.relay]` table in `pyproject.toml` (where a project sets its model name and stores once), then
    the defaults below."""

    model_config = SettingsConfigDict(
        env_prefix="RELAY_", extra="ignore", pyproject_toml_table_header=("tool", "relay")
    )

    root: Path = Field(default_factory=find_root)
    model_name: str = "relay-returns"
    experiment_name: str = ""  # empty: the model name
    mlflow_tracking_uri: str = ""
    mlflow_artifact_location: str = ""
    prediction_log_url: str = ""
    # When a prediction is answered: "fast" at once, its rows logged within about 0.2 s (a crash of the service
    # loses those); "durable" only once its rows are committed to the prediction log, or 503 if they cannot be.
    prediction_log_ack: Literal["fast", "durable"] = "fast"
    # While the log's store is unreachable, the service holds at most about this many rows for it (the demo's
    # rows take about 0.4 KB each); rows beyond are refused: lost and counted (durable mode answers 503 meanwhile).
    prediction_log_hold_rows: int = Field(200_000, gt=0)
    # Where the monitor keeps one row per run (any SQLAlchemy URL); empty: SQLite under local/monitoring/.
    monitoring_url: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    reload_interval_s: float = Field(10.0, gt=0)
    max_batch_size: int = Field(1000, gt=0)
    # Micro-batching: concurrent requests are scored together, up to this many records per model call,
    # waiting at most this long for company (0: only what is already queued).
    batch_max_records: int = Field(1024, gt=0)
    batch_max_wait_ms: float = Field(1.0, ge=0, le=1000)
    # OpenMP threads for one model call. One leaves the other core to the event loop and the prediction-log
    # writer; with two, the model's threads spin-wait for a core someone else holds. In one run of
    # Relay's serving benchmark, 1,000-record batches gave 45k records/s (p99 39 ms) with one, 33k (p99 139 ms)
    # with two. Raise it on a machine with cores to spare.
    inference_threads: int = Field(1, gt=0, le=256)
    # Requests with a larger body get 413 before anything parses them (a 1,000-record batch is about 250 KB).
    max_body_bytes: int = Field(2 * 1024 * 1024, gt=0)
    # When set, /v1/ routes need it as X-API-Key (or Authorization: Bearer); health, metrics and docs stay open.
    api_key: SecretStr | None = None
    # Browser origins allowed to call the API (CORS), e.g. ["https://shop.example"]; empty: none.
    cors_origins: list[str] = Field(default_factory=list)
    log_format: Literal["json", "text"] = "json"
    # Running prediction services to tell about a new champion (POST <url>/v1/model/reload) after a promotion
    # or rollback, e.g. ["http://127.0.0.1:8000"]; each also polls the registry every reload_interval_s.
    service_urls: list[str] = Field(default_factory=list)
    # DVC remote for pushes and fetches, e.g. s3://bucket/relay; empty: the default remote in .dvc/config.
    dvc_remote: str = ""
    # part:experiments:begin
    # The cluster `relay train sweep --runner dask|ray` sends trials to (`--address` overrides it): a Dask
    # scheduler (tcp://host:8786) or a Ray head (host:6379, or ray://host:10001); empty: a cluster started
    # on this machine for the sweep.
    dask_address: str = ""
    ray_address: str = ""
    # part:experiments:end
    # part:evidently-ui:begin
    # Where every monitor run also goes for Evidently's UI (`relay monitor ui`): a folder (relative to the root;
    # empty: local/evidently/) or the http(s) URL of an Evidently UI service, with its write secret if it has one.
    evidently_workspace: str = ""
    evidently_secret: SecretStr | None = None
    # part:evidently-ui:end
    # Rows per chunk when data stages stream files: bounds their memory whatever the batch size.
    chunk_rows: int = Field(200_000, gt=0)

    @field_validator("root")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.resolve()

    @model_validator(mode="after")
    def _experiment_defaults_to_the_model(self) -> Settings:
        self.experiment_name = self.experiment_name or self.model_name
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = init_settings() if isinstance(init_settings, InitSettingsSource) else {}
        root = Path(given.get("root") or os.environ.get("RELAY_ROOT") or find_root())
        project = PyprojectTomlConfigSettingsSource(settings_cls, root / "pyproject.toml")
        return init_settings, env_settings, project, file_secret_settings

    # Workspace layout, relative to the root. DVC outputs are named in dvc.yaml as well.
    @property
    def local_dir(self) -> Path:
        return self.root / "local"

    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def validated_dir(self) -> Path:
        return self.root / "data" / "validated"

    @property
    def versions_catalog(self) -> Path:
        return self.root / "data" / "versions.jsonl"

    @property
    def downloads_dir(self) -> Path:
        return self.local_dir / "downloads"

    @property
    def dataset_dir(self) -> Path:
        return self.root / "data" / "dataset"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "data" / "quarantine"

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    @property
    def model_dir(self) -> Path:
        return self.root / "models"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def logs_dir(self) -> Path:
        """Logs of the servers a command starts: the demo's service, a command's own Prefect server."""
        return self.local_dir / "logs"

    @property
    def prefect_server_log(self) -> Path:
        return self.logs_dir / "prefect-server.log"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.local_dir / 'mlflow' / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        if self.mlflow_artifact_location:
            return self.mlflow_artifact_location
        if self.tracking_uri.startswith(("http://", "https://")):
            # A tracking server decides where artifacts go (its --artifacts-destination, proxied to clients);
            # a path on this machine would be one the server's other clients cannot read.
            return ""
        # Explicit, or MLflow puts artifacts in ./mlruns of whatever directory a command ran in.
        return (self.local_dir / "mlflow" / "artifacts").as_uri()

    @property
    def uses_embedded_mlflow(self) -> bool:
        return not self.mlflow_tracking_uri

    @property
    def prediction_log(self) -> str:
        if self.prediction_log_url:
            return self.prediction_log_url
        # One embedded log per model: a model on another contract logs other columns.
        return f"sqlite:///{self.local_dir / 'predictions' / f'{self.model_name}.db'}"

    @property
    def monitoring_store(self) -> str:
        if self.monitoring_url:
            return self.monitoring_url
        return f"sqlite:///{self.local_dir / 'monitoring' / f'{self.model_name}.db'}"

    # part:evidently-ui:begin
    @property
    def evidently_location(self) -> str:
        """The Evidently workspace: a URL as given (pipelines/monitoring/dashboard.py says which it takes), or an
        absolute folder."""
        given = self.evidently_workspace
        if "://" in given:
            return given.rstrip("/")  # Relay appends paths to it (…/projects/<id>)
        return str(self.root / given) if given else str(self.local_dir / "evidently")

    # part:evidently-ui:end
    @property
    def contract_path(self) -> Path:
        return self.root / "contract.yaml"

    @cached_property
    def contract(self) -> Contract:
        # Always the root's contract.yaml, for the same reason as params.yaml: DVC tracks that file.
        return load_contract(self.contract_path)

    @cached_property
    def params(self) -> Params:
        # Always the root's params.yaml: it is the file DVC tracks, so what stages read is what dvc.lock records.
        return load_params(self.root / "params.yaml")

    def child_env(self) -> dict[str, str]:
        """Environment for a subprocess (DVC stage commands, the API) that must see the same settings."""
        return {
            **TOOL_ENV,
            **os.environ,
            "RELAY_ROOT": str(self.root),
            "RELAY_MLFLOW_TRACKING_URI": self.tracking_uri,
            "RELAY_MLFLOW_ARTIFACT_LOCATION": self.artifact_location,
            "RELAY_PREDICTION_LOG_URL": self.prediction_log,
        }


def get_settings() -> Settings:
    return Settings()
