"""Monitoring history (owner: MLOps engineer, part of the monitor stage): every run, and the page that lists them.

Takes the monitor's decision; hands over one row in the history table (SQLite under `local/monitoring/` by
default, any SQLAlchemy URL with RELAY_MONITORING_URL) and `reports/monitoring/index.html`: the newest
decision in words, then every run, newest first, with its verdicts, what retraining did, and links to its
report and decision. The page is rebuilt from the table on every run, so it never lists a
report the table does not know, and a failed run leaves the last page as it was.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import pandas as pd
import sqlalchemy as sa

from pipelines.core.atomic import atomic_path
from pipelines.core.handoffs import MonitorDecision
from pipelines.monitoring.quality import REPORT as QUALITY_REPORT

TABLE = "monitoring_runs"
PAGE = "index.html"
PAGE_TEMPLATE = Path(__file__).with_name("index.html")


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.String(32), nullable=False, index=True),
        sa.Column("drift", sa.Boolean, nullable=False),
        sa.Column("drift_share", sa.Float, nullable=False),
        sa.Column("drift_share_threshold", sa.Float, nullable=False),
        sa.Column("drifted_features", sa.Text, nullable=False),
        sa.Column("prediction_drift", sa.Boolean, nullable=False),
        sa.Column("data_quality", sa.Text, nullable=False),  # "ok", or the problems found, "; "-separated
        sa.Column("window_rows", sa.Integer, nullable=False),
        sa.Column("window_from", sa.String(40)),
        sa.Column("window_to", sa.String(40)),
        sa.Column("reference_version", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        # Added after the first release; nullable, so an older table gains them in place (see _upgrade).
        sa.Column("model_quality", sa.Text),  # the champion on newly labelled rows, in words
        sa.Column("retraining", sa.Text),  # what the retraining flow did about this decision
    )


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url, future=True)


def _upgrade(engine: sa.Engine, table: sa.Table) -> None:
    """Create the table, or add the nullable columns a newer Relay writes; refuse any other difference."""
    inspector = sa.inspect(engine)
    if not inspector.has_table(TABLE):
        table.metadata.create_all(engine)
        return
    found = {c["name"] for c in inspector.get_columns(TABLE)}
    wanted = {c.name for c in table.columns}
    missing = [c for c in table.columns if c.name not in found]
    if found - wanted or any(not c.nullable for c in missing):
        raise RuntimeError(
            f"the monitoring history at {engine.url.render_as_string(hide_password=True)} has other "
            f"columns than this version of Relay writes ({sorted(found ^ wanted)}); "
            "point RELAY_MONITORING_URL at a new store (or migrate the table)"
        )
    for column in missing:
        kind = column.type.compile(dialect=engine.dialect)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'ALTER TABLE {TABLE} ADD COLUMN "{column.name}" {kind}'))
        except sa.exc.DBAPIError:
            # Another process (a scheduled run and a manual one starting together) added it first; anything
            # else, such as no ALTER rights on a shared database, is still an error.
            if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(TABLE)}:
                raise


@dataclass(frozen=True)
class Recorded:
    page: Path  # the rebuilt index page
    run_id: int  # the run's row in the history table; note_retraining finds it by this


@contextmanager
def _changing(url: str, index_dir: Path) -> Iterator[tuple[sa.Connection, sa.Table]]:
    """One transaction on the history table (created or upgraded first); the index page is rebuilt once it
    has committed."""
    engine = _engine(url)
    try:
        table = _table(sa.MetaData())
        _upgrade(engine, table)
        with engine.begin() as conn:
            yield conn, table
        runs = read(url, engine=engine)
    finally:
        engine.dispose()
    with atomic_path(index_dir / PAGE) as tmp:
        tmp.write_text(render(runs, index_dir), encoding="utf-8")


def record(decision: MonitorDecision, url: str, index_dir: Path) -> Recorded:
    """Add the run to the history table and rebuild the index page."""
    d = decision
    with _changing(url, index_dir) as (conn, table):
        row = table.insert().values(
            created_at=d.created_at,
            drift=d.drift,
            drift_share=d.drift_share,
            drift_share_threshold=d.drift_share_threshold,
            drifted_features=",".join(d.drifted_features),
            prediction_drift=d.prediction_drift,
            data_quality="; ".join(d.data_quality.problems) or "ok",
            window_rows=d.window.rows,
            window_from=d.window.start,
            window_to=d.window.end,
            reference_version=d.reference_version,
            model_version=d.model_version,
            report=d.report,
            model_quality=d.model_quality.message if d.model_quality else None,
            retraining=None,
        )
        key = conn.execute(row).inserted_primary_key
        if not key:
            raise RuntimeError(f"the monitoring history at {url} returned no id for the new run")
    return Recorded(index_dir / PAGE, int(key[0]))


def note_retraining(run_id: int, outcome: str, url: str, index_dir: Path) -> Path:
    """Record what the retraining flow did about a recorded run, and rebuild the index page."""
    with _changing(url, index_dir) as (conn, table):
        found = conn.execute(sa.select(table.c.retraining).where(table.c.id == run_id)).first()
        if found is None:
            raise KeyError(f"no monitoring run {run_id} in the history to note retraining on")
        # `relay retrain` may act on the same decision again: keep what was done before.
        text = f"{found.retraining}; then {outcome}" if found.retraining else outcome
        conn.execute(sa.update(table).where(table.c.id == run_id).values(retraining=text))
    return index_dir / PAGE


def read(url: str, *, engine: sa.Engine | None = None) -> pd.DataFrame:
    """Every recorded run, newest first (empty when the monitor has never run)."""
    own = engine is None
    engine = engine or _engine(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            return pd.DataFrame(columns=[c.name for c in _table(sa.MetaData()).columns])
        table = sa.Table(TABLE, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            return pd.read_sql(sa.select(table).order_by(table.c.id.desc()), conn)
    finally:
        if own:
            engine.dispose()


def _link(report: str, index_dir: Path) -> str:
    """The report's path relative to the index page, so the folder can be moved or served as it is."""
    path = Path(report)
    try:
        return path.relative_to(index_dir).as_posix()
    except ValueError:
        return path.as_uri() if path.is_absolute() else path.as_posix()


def _text(value: Any) -> str:
    """A nullable text cell: missing (NULL, NaN) reads as empty."""
    return value if isinstance(value, str) else ""


_VERDICT = {True: '<strong class="drift">drift</strong>', False: '<strong class="quiet">no drift</strong>'}


def _row(run: pd.Series, index_dir: Path) -> dict[str, str]:
    """One run as the table's cells, already HTML: every text from the store is escaped here. The numbers behind
    the verdicts (drift shares and scores, quality against its limit, rows judged) are in each run's report and
    decision, and charted over time in Evidently's UI when the project has the evidently-ui part; the page keeps
    what a chart cannot say: the verdicts and findings in words, what retraining did, the files."""
    e = html.escape
    folder = e(_link(str(run["report"]), index_dir)).removesuffix("report.html")
    files = f'<a href="{folder}report.html">report</a>'
    if Path(str(run["report"])).with_name(QUALITY_REPORT).is_file():
        files += f' · <a href="{folder}{QUALITY_REPORT}">quality</a>'
    reference = str(run["reference_version"])
    return {
        "run (UTC)": f"{e(str(run['created_at']))}<br><small>model v{e(str(run['model_version']))}, data "
        f'<span title="{e(reference)}">{e(reference[:10])}</span></small>',
        "decision": _VERDICT[bool(run["drift"])],
        "data quality": e(str(run["data_quality"])),
        "model quality": e(_text(run.get("model_quality")) or "-"),
        "retraining": e(_text(run.get("retraining")) or "-"),
        "files": f'{files} · <a href="{folder}decision.json">decision</a>',
    }


def render(runs: pd.DataFrame, index_dir: Path) -> str:
    """The index page: newest decision first, then a table of every run."""
    e = html.escape
    if runs.empty:
        latest, table = "<p>The monitor has not run yet: <code>relay monitor</code>.</p>", ""
    else:
        newest = runs.iloc[0]
        features = newest["drifted_features"].replace(",", ", ") or "the prediction"
        headline = f"Drift detected in {e(features)}" if newest["drift"] else "No drift"
        latest = (
            f'<p class="latest {"drift" if newest["drift"] else "quiet"}" id="latest">'
            f"Latest run ({e(str(newest['created_at']))}): <strong>{headline}</strong> "
            f'— <a href="{e(_link(str(newest["report"]), index_dir))}">open the report</a></p>'
        )
        for label, column in (("Model quality", "model_quality"), ("Retraining", "retraining")):
            if _text(newest.get(column)):
                latest += f'<p class="follow-up" id="latest-{column}">{label}: {e(_text(newest[column]))}</p>'
        # The cells are HTML already (links, line breaks), escaped where they hold stored text.
        cells = pd.DataFrame([_row(run, index_dir) for _, run in runs.iterrows()])
        table = cells.to_html(escape=False, index=False, border=0)

    # The page's markup and prose are a template beside this module; only the two blocks are filled in here.
    return Template(PAGE_TEMPLATE.read_text(encoding="utf-8")).substitute(latest=latest, table=table)
