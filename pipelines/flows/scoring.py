"""Batch scoring (MLOps engineer's wrapper of the ML engineer's `score` stage): a file in, predictions out.

`relay score` calls `score_file` directly; the `batch-scoring` flow runs the same as a Prefect task, so a
deployment can score each night's file on a schedule.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prefect import flow, task

from pipelines.core.ownership import prefect_tags
from pipelines.core.settings import Settings, get_settings
from pipelines.data.sources import ReadOptions, iter_file
from pipelines.release.score import Scored, ScoreInputs
from pipelines.release.score import run as score


def score_file(settings: Settings, source: Path, out: Path, options: ReadOptions | None = None) -> Scored:
    """Score `source` (CSV or Parquet, read in `settings.chunk_rows` chunks) with the champion into `out`."""
    p = settings.params.ingest
    options = options or ReadOptions(delimiter=p.delimiter, encoding=p.encoding)
    options = replace(options, chunk_rows=settings.chunk_rows)
    inputs = ScoreInputs(
        source=str(source),
        out=out,
        contract=settings.contract,
        tracking_uri=settings.tracking_uri,
        model_name=settings.model_name,
    )
    return score(iter_file(source, options), inputs)


@task(name="score", tags=prefect_tags("score"))
def score_task(settings: Settings, source: Path, out: Path) -> Scored:
    return score_file(settings, source, out)


@flow(name="batch-scoring")
def scoring_flow(source: str, out: str, settings: Settings | None = None) -> Scored:
    """Score one file with the champion; for schedules (`prefect` deployments) and `relay score` alike."""
    return score_task(settings or get_settings(), Path(source), Path(out))
