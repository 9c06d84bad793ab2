"""The sweep's task runners: which cluster each one sends trials to."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.flows.sweep import task_runner

pytestmark = pytest.mark.slow  # imports Ray


def test_a_ray_sweep_without_an_address_starts_its_own_cluster_despite_a_stale_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("prefect_ray")
    import ray  # noqa: F401 (its submodules need the package imported first)
    from ray._private.services import get_ray_address_from_environment

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # What `ray start --head` leaves in Ray's temporary folder, still there after that cluster has stopped.
    (tmp_path / "ray_current_cluster").write_text("127.0.0.1:9")
    assert get_ray_address_from_environment(None, str(tmp_path)) == "127.0.0.1:9"  # Ray's default would join it
    runner = task_runner("ray", 2)
    assert get_ray_address_from_environment(runner.address, str(tmp_path)) == "local"
    assert runner.init_kwargs["num_cpus"] == 2


def test_a_ray_sweep_with_an_address_joins_that_cluster() -> None:
    pytest.importorskip("prefect_ray")
    runner = task_runner("ray", 2, "127.0.0.1:6379")
    assert runner.address == "127.0.0.1:6379" and "num_cpus" not in runner.init_kwargs
