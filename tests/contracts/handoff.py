"""The guard every hand-off contract test checks through, so a broken hand-off names itself and its roles.

A failure reads like `model contract (Data scientist → ML engineer) broken: the signature lacks column 'brand'`:
the contract and who gives and takes it come from `pipelines/core/team.yaml`, the problem from the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import pytest

from pipelines.core.team import Handoff, handoff


@dataclass(frozen=True)
class Guard:
    handoff: Handoff

    @property
    def prefix(self) -> str:
        return f"{self.handoff.name} ({self.handoff.between}) broken"

    def fail(self, problem: str) -> NoReturn:
        raise AssertionError(f"{self.prefix}: {problem}")

    def check(self, ok: object, problem: str) -> None:
        """Fail with `problem` unless `ok`."""
        if not ok:
            self.fail(problem)

    def no_problems(self, problems: Iterable[str]) -> None:
        """Fail listing every problem found, if there is any."""
        found = list(problems)
        if found:
            self.fail(found[0] if len(found) == 1 else "\n  - " + "\n  - ".join(found))

    @contextmanager
    def breaks(self, match: str) -> Iterator[None]:
        """For tests that break the hand-off on purpose: the block must fail through this guard, with a message
        that names the contract, its giver and every taker, and matches `match`."""
        with pytest.raises(AssertionError) as info:
            yield
        message = str(info.value)
        if not message.startswith(self.prefix):
            raise AssertionError(f"the failure does not name the {self.handoff.name} and its roles: {message}")
        for role in (self.handoff.giver, *self.handoff.takers):
            if role.label not in message:
                raise AssertionError(f"the failure does not name the {role.label}: {message}")
        if not re.search(match, message):
            raise AssertionError(f"the failure does not say {match!r}: {message}")


def guard(name: str) -> Guard:
    """The guard of the hand-off `name` in the handbook (a KeyError if the handbook has no such hand-off)."""
    return Guard(handoff(name))
