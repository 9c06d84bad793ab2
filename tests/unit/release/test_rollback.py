from __future__ import annotations

from types import SimpleNamespace

from pipelines.release.rollback import rollback_target


def v(n: int, **tags: str) -> SimpleNamespace:
    return SimpleNamespace(version=str(n), tags=tags)


def test_target_is_the_most_recent_earlier_champion() -> None:
    versions = [
        v(1, **{"relay.promoted_at": "2026-11-01T10:00:00+00:00"}),
        v(2, **{"relay.promoted_at": "2026-11-02T10:00:00+00:00"}),
        v(3),  # a challenger that never passed: not a rollback target
        v(4, **{"relay.promoted_at": "2026-11-03T10:00:00+00:00"}),
    ]
    assert rollback_target(versions, champion="4").version == "2"


def test_rolled_back_versions_are_skipped_so_a_second_rollback_goes_further_back() -> None:
    versions = [
        v(1, **{"relay.promoted_at": "2026-11-01T10:00:00+00:00"}),
        v(2, **{"relay.promoted_at": "2026-11-02T10:00:00+00:00", "relay.rolled_back_at": "2026-11-05"}),
        v(3, **{"relay.promoted_at": "2026-11-06T10:00:00+00:00"}),
    ]
    assert rollback_target(versions, champion="3").version == "1"
    assert rollback_target(versions[:1], champion="1") is None
