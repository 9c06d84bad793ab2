from __future__ import annotations

import pytest

from pipelines.flows.common import retry_if_transient


class _State:
    def __init__(self, exc: BaseException | None) -> None:
        self.exc = exc

    def result(self) -> None:
        if self.exc is not None:
            raise self.exc


@pytest.mark.parametrize("exc", [ConnectionError("reset"), TimeoutError("slow"), OSError("disk hiccup")])
def test_transient_failures_are_retried(exc: BaseException) -> None:
    assert retry_if_transient(None, None, _State(exc)) is True


@pytest.mark.parametrize("exc", [FileNotFoundError("no champion"), ValueError("bad batch"), KeyError("stage")])
def test_mistakes_are_not_retried(exc: BaseException) -> None:
    assert retry_if_transient(None, None, _State(exc)) is False
