from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.core.handoffs import MonitorDecision
from pipelines.monitoring import history
from tests.helpers import sample_decision


def decision(reports: Path, stamp: str, drift: bool, features: list[str], **more: Any) -> MonitorDecision:
    problems = ["brand: new value(s) sundew"] if drift else []
    quality = {"ok": not problems, "problems": problems, "missing": {}, "out_of_range": {}, "empty_columns": []}
    return sample_decision(
        reports / stamp / "report.html",
        drift=drift,
        drift_share=0.4 if drift else 0.1,
        drifted_features=features,
        prediction_drift=drift,
        data_quality=quality | {"max_missing_increase": 0.05},
        window={
            "rows": 5000,
            "judged_rows": 5000,
            "sampled": False,
            "from": "2026-11-20 10:00:00+00:00",
            "to": "2026-11-20 12:00:00+00:00",
        },
        created_at=stamp,
        **more,
    )


def test_runs_are_listed_newest_first_with_relative_links(tmp_path: Path) -> None:
    url, reports = f"sqlite:///{tmp_path}/history.db", tmp_path / "reports" / "monitoring"
    history.record(decision(reports, "20261120T100000Z", False, []), url, reports)
    page = history.record(decision(reports, "20261121T100000Z", True, ["brand", "price"]), url, reports).page
    runs = history.read(url)
    assert runs["created_at"].tolist() == ["20261121T100000Z", "20261120T100000Z"]
    assert runs["drift"].tolist() == [True, False]
    text = page.read_text()
    assert "Drift detected in brand, price" in text
    assert text.index("20261121T100000Z") < text.index("20261120T100000Z")
    assert 'href="20261121T100000Z/report.html"' in text and 'href="20261121T100000Z/decision.json"' in text
    assert "brand: new value(s) sundew" in text and runs["data_quality"].tolist()[1] == "ok"


def test_a_history_from_another_version_is_refused(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path}/history.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE monitoring_runs (id INTEGER PRIMARY KEY, drift BOOLEAN)"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="RELAY_MONITORING_URL"):
        history.record(decision(tmp_path, "20261120T100000Z", False, []), url, tmp_path)


def test_no_runs_yet(tmp_path: Path) -> None:
    assert history.read(f"sqlite:///{tmp_path}/none.db").empty
    assert "has not run yet" in history.render(history.read(f"sqlite:///{tmp_path}/none.db"), tmp_path)


def test_feature_names_are_escaped(tmp_path: Path) -> None:
    url, reports = f"sqlite:///{tmp_path}/history.db", tmp_path / "m"
    page = history.record(decision(reports, "20261122T000000Z", True, ["<script>"]), url, reports).page
    assert "<script>" not in page.read_text() and "&lt;script&gt;" in page.read_text()


def test_a_table_from_before_quality_and_retraining_gains_the_columns(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url, reports = f"sqlite:///{tmp_path}/history.db", tmp_path / "m"
    history.record(decision(reports, "20261120T100000Z", False, []), url, reports)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the table as the first release wrote it
        conn.execute(sa.text("ALTER TABLE monitoring_runs DROP COLUMN model_quality"))
        conn.execute(sa.text("ALTER TABLE monitoring_runs DROP COLUMN retraining"))
    engine.dispose()
    quality = {"status": "judged", "ok": False, "message": "ROC AUC 0.61 on 3000 newly labelled rows, below 0.68"}
    later = decision(reports, "20261121T100000Z", True, ["brand"], model_quality=quality)
    history.record(later, url, reports)
    runs = history.read(url)
    assert runs["created_at"].tolist() == ["20261121T100000Z", "20261120T100000Z"]
    assert runs["model_quality"].tolist()[0].startswith("ROC AUC 0.61")


def test_retraining_is_noted_on_its_run_and_shown(tmp_path: Path) -> None:
    url, reports = f"sqlite:///{tmp_path}/history.db", tmp_path / "m"
    # Two runs in the same second: the note must land on the one it is about.
    first = history.record(decision(reports, "20261120T100000Z", True, ["brand"]), url, reports).run_id
    second = history.record(decision(reports, "20261120T100000Z", False, []), url, reports).run_id
    history.note_retraining(first, "not retrained: waiting for labels", url, reports)
    page = history.note_retraining(first, "v2 trained and promoted", url, reports)
    runs = history.read(url).set_index("id")
    assert runs.loc[first, "retraining"] == "not retrained: waiting for labels; then v2 trained and promoted"
    assert pd.isna(runs.loc[second, "retraining"])
    assert "then v2 trained and promoted" in page.read_text()
    with pytest.raises(KeyError, match="no monitoring run 999"):
        history.note_retraining(999, "x", url, reports)


def test_the_latest_run_states_model_quality_and_retraining(tmp_path: Path) -> None:
    url, reports = f"sqlite:///{tmp_path}/history.db", tmp_path / "m"
    quality = {"status": "no labels", "ok": None, "message": "no labelled batches since the champion's data"}
    run = decision(reports, "20261120T100000Z", True, ["brand"], model_quality=quality)
    run_id = history.record(run, url, reports).run_id
    text = history.note_retraining(run_id, "challenger v3 kept", url, reports).read_text()
    assert 'id="latest-model_quality">Model quality: no labelled batches since the champion&#x27;s data' in text
    assert 'id="latest-retraining">Retraining: challenger v3 kept' in text
