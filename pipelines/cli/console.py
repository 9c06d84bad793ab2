"""Shared output and error handling for the `relay` CLI: clear one-line errors, never a traceback."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from pipelines.ownership import get_stage

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


def stage_banner(name: str, detail: str = "") -> None:
    s = get_stage(name)
    console.print(f"[bold cyan]▶ {s.name}[/] [dim]({s.owner.label})[/] {detail}")


def quiet_tools() -> None:
    """Silence telemetry of the tools we drive; their 'database is locked' noise confuses newcomers."""
    for key, value in {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "GIT_PYTHON_REFRESH": "quiet",
    }.items():
        os.environ.setdefault(key, value)
    # PREFECT_HOME stays Prefect's own (default ~/.prefect), so a user's Prefect profile, e.g. a server set
    # with `prefect config set PREFECT_API_URL=...`, applies to Relay's flows too. Prefect creates that folder
    # without its parents and then cannot open its database, so make sure it exists when one is given.
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into `error: ...` and exit code 1 (2 for bad input), without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from pipelines.params import ParamsError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except ParamsError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        except Exception as exc:
            if os.environ.get("RELAY_DEBUG") or not _expected(exc):
                raise
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            err.print(f"[red]error:[/] {message} [dim](RELAY_DEBUG=1 shows the traceback)[/]")
            raise typer.Exit(1) from None

    return wrapper


# Failures the user can act on from the message alone. Errors raised by the tools Relay drives are matched by
# module, so that catching them does not mean importing DVC, MLflow or SQLAlchemy at start-up.
_EXPECTED = (ValueError, TypeError, KeyError, RuntimeError, OSError)
_TOOL_MODULES = ("dvc.", "mlflow.", "httpx", "sqlalchemy.", "pyarrow.", "pandera.", "prefect.")


def _expected(exc: BaseException) -> bool:
    return isinstance(exc, _EXPECTED) or type(exc).__module__.startswith(_TOOL_MODULES)
