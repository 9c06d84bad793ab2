"""Shared output and error handling for the `relay` CLI: clear one-line errors, never a traceback."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from pipelines.core.output import console

__all__ = ["console", "err", "friendly_errors", "quiet_tools"]
# soft_wrap: an error stays one line however long (a log or a script greps it); the terminal wraps it.
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def quiet_tools() -> None:
    """Quiet the tools a command is about to import (see `pipelines.core.settings.TOOL_ENV`)."""
    from pipelines.core.settings import apply_tool_env

    apply_tool_env()


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into `error: ...` and exit code 1 (2 for bad input), without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from pipelines.core.contract import ContractError
        from pipelines.core.params import ParamsError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except (ParamsError, ContractError) as exc:
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
_EXPECTED = (ValueError, KeyError, RuntimeError, OSError)
_TOOL_MODULES = ("dvc.", "mlflow.", "httpx", "sqlalchemy.", "pyarrow.", "pandera.", "prefect.")


def _expected(exc: BaseException) -> bool:
    return isinstance(exc, _EXPECTED) or type(exc).__module__.startswith(_TOOL_MODULES)
