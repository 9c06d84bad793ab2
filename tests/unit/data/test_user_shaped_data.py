"""Data shaped like a user's, not like the demo's: yes/no labels, an index column to ignore, a repeating panel
id and no unique one, integer-coded levels with nulls. The contract says what each column is; no workaround."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter, ValidationError

from pipelines.core.contract import Contract, ContractError, load
from pipelines.core.contract_checks import ContractViolation, Screen, check_frame
from pipelines.core.yaml_file import safe_load
from pipelines.data import ingest, validate, version
from services.api.schemas import request_models

PANEL = """
name: health
description: A yearly health panel.
batch_column: year_batch
target: smoker
columns:
  "Unnamed: 0": {kind: ignore, description: the row index the export wrote}
  person_id: {kind: ignore, description: repeats every year, example: P1}
  year_batch: {kind: batch, description: the delivery, example: y1}
  age: {kind: numeric, description: years, example: 40, min: 18, max: 100}
  education: {kind: ordinal, description: level 1-4, example: "2", allowed: ["1", "2", "3", "4"], nullable: true}
  smoker: {kind: target, description: smokes, positive: yes, negative: no}
"""


def panel_contract(tmp_path: Path, text: str = PANEL) -> Contract:
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    return load(path)


def panel_rows(rows: int = 200, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    education = rng.integers(1, 5, rows).astype(float)
    education[rng.random(rows) < 0.1] = np.nan  # a float column once it has nulls, as pandas and Parquet keep it
    return pd.DataFrame(
        {
            "Unnamed: 0": np.arange(rows),
            "person_id": [f"P{i % (rows // 2)}" for i in range(rows)],  # every person twice
            "age": rng.integers(18, 90, rows).astype(float),
            "education": education,
            "smoker": rng.choice(["yes", "no", "Yes", "NO"], rows),
        }
    )


def test_yaml_booleans_are_only_true_and_false() -> None:
    assert safe_load("a: yes\nb: no\nc: on\nd: true\ne: False") == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": True,
        "e": False,
    }


def test_labels_are_encoded_once_at_the_door(tmp_path: Path) -> None:
    contract = panel_contract(tmp_path)
    assert contract.labels == ("no", "yes")
    good, bad = Screen(contract, "y1").screen(panel_rows().assign(year_batch="y1"))
    assert bad.empty and set(good["smoker"]) == {0, 1}
    expected = panel_rows()["smoker"].str.casefold().eq("yes").astype(int)
    assert good["smoker"].tolist() == expected.tolist()


@pytest.mark.parametrize("label", ["maybe", 0.5, "1"])
def test_a_label_that_is_neither_is_refused_by_name(tmp_path: Path, label: object) -> None:
    rows = panel_rows().assign(year_batch="y1").astype({"smoker": object})
    rows.loc[3, "smoker"] = label
    report = check_frame(rows, panel_contract(tmp_path), "y1")
    assert not report.ok and "smoker" in report.failing_columns
    assert "label is one of ['no', 'yes']" in report.summary() and repr(label) in report.summary()


def test_without_named_labels_one_zero_and_true_false_read_and_a_fraction_is_refused(tmp_path: Path) -> None:
    contract = panel_contract(tmp_path, PANEL.replace(", positive: yes, negative: no", ""))
    rows = panel_rows().assign(year_batch="y1", smoker=[True, False] * 100)
    good, bad = Screen(contract, "y1").screen(rows)
    assert bad.empty and good["smoker"].tolist() == [1, 0] * 100
    halves = rows.assign(smoker=[1.0, 0.5] * 100)  # 0.5 must not become 0
    assert not check_frame(halves, contract, "y1").ok


def test_integer_codes_stored_as_floats_land_as_their_levels(tmp_path: Path) -> None:
    good, bad = Screen(panel_contract(tmp_path), "y1").screen(panel_rows().assign(year_batch="y1"))
    assert bad.empty
    assert set(good["education"].dropna()) <= {"1", "2", "3", "4"} and good["education"].isna().any()


def test_ignored_and_repeating_columns_stay_in_the_data_but_out_of_the_model_and_the_api(tmp_path: Path) -> None:
    contract = panel_contract(tmp_path)
    assert contract.feature_columns() == ["age", "education"] and contract.id_column is None
    features, _ = request_models(contract)
    assert set(features.__annotations__) == {"age", "education"}
    landing = ingest.Landing(contract=contract, raw_dir=tmp_path / "raw", quarantine_dir=tmp_path / "q")
    for batch, seed in (("y1", 1), ("y2", 2)):  # the same people again the next year: allowed without an id
        ingest.run(batch, [panel_rows(seed=seed).assign(person_id=panel_rows()["person_id"])], landing)
    validate.run(tmp_path / "raw", tmp_path / "validated", tmp_path / "v.json", contract, chunk_rows=64)
    kept = pd.read_parquet(tmp_path / "validated" / "y1.parquet")
    assert {"Unnamed: 0", "person_id"} <= set(kept.columns) and kept["smoker"].isin([0, 1]).all()
    manifest = version.run(tmp_path / "validated", tmp_path / "dataset", contract, holdout_share=0.3, chunk_rows=64)
    assert manifest.rows == 400 and 0 < manifest.holdout_rows < 400


def test_without_an_id_a_record_keeps_its_side_of_the_split(tmp_path: Path) -> None:
    contract = panel_contract(tmp_path)
    rows = panel_rows().assign(year_batch="y1")
    once = version.in_holdout(version.split_keys(rows, contract), 0.3)
    again = version.in_holdout(version.split_keys(rows.assign(year_batch="y9").iloc[::-1], contract), 0.3)
    assert once.tolist() == again[::-1].tolist() and 0 < once.sum() < len(rows)


def test_the_api_takes_integer_codes_as_json_numbers_and_hands_the_model_text(tmp_path: Path) -> None:
    features, _ = request_models(panel_contract(tmp_path))
    adapter: TypeAdapter[dict[str, object]] = TypeAdapter(features)
    assert adapter.validate_json(json.dumps({"age": 40, "education": 3}))["education"] == "3"
    assert adapter.validate_json(json.dumps({"age": 40, "education": "3"}))["education"] == "3"
    assert adapter.validate_json(json.dumps({"age": 40, "education": None}))["education"] is None
    for wrong in (5, True, "3.0"):
        with pytest.raises(ValidationError):
            adapter.validate_json(json.dumps({"age": 40, "education": wrong}))


AGE = "  age: {kind: numeric, description: years, example: 40, min: 18, max: 100}\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  id: {kind: numeric, description: clashes, example: 1}\n", "feature 'id' has the name of one of the pre"),
        ("  flagged: {kind: categorical, description: x, example: a, allowed: [a]}\n", "feature 'flagged'"),
        ("  id: {kind: ignore, description: an index named id}\n", None),  # not a feature: no clash
    ],
)
def test_a_feature_named_like_a_prediction_log_column_is_refused(
    tmp_path: Path, extra: str, message: str | None
) -> None:
    text = PANEL.replace(AGE, extra + AGE)
    if message is None:
        assert "id" in panel_contract(tmp_path, text).columns
        return
    with pytest.raises(ContractError, match=message):
        panel_contract(tmp_path, text)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("positive: yes, negative: no", "positive: yes, negative: Yes", "the same label"),
        (
            "kind: ordinal, description: level 1-4,",
            "kind: ordinal, positive: x, description: level 1-4,",
            "name a binary target's two labels",
        ),
        ("  person_id: {kind: ignore,", "  person_id: {kind: id, pattern: '^P', ", "id_column is not set"),
    ],
)
def test_contract_mistakes_about_roles_are_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in PANEL
    with pytest.raises(ContractError, match=message):
        panel_contract(tmp_path, PANEL.replace(old, new))


def test_another_datasets_batches_are_named_and_a_reset_starts_over(workspace: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli.main import app

    runner = CliRunner()
    assert runner.invoke(app, ["data", "ingest", "--batch", "1"]).exit_code == 0  # the demo's orders
    (workspace / "contract.yaml").write_text(PANEL)
    panel = workspace / "y1.csv"
    panel_rows().to_csv(panel, index=False)
    refused = runner.invoke(app, ["data", "ingest", "--file", str(panel)])
    assert refused.exit_code == 1 and "batch-0001" in refused.output and "relay data reset" in refused.output
    with pytest.raises(ContractViolation, match=r"(?s)another dataset.*relay data reset.*batch-0001"):
        validate.run(
            workspace / "data" / "raw",
            workspace / "v",
            workspace / "v.json",
            load(workspace / "contract.yaml"),
            chunk_rows=64,
        )
    kept = runner.invoke(app, ["data", "reset"], input="n\n")
    assert kept.exit_code == 1 and (workspace / "data" / "raw" / "batch-0001.parquet").exists()
    assert runner.invoke(app, ["data", "reset", "--yes"]).exit_code == 0
    assert not (workspace / "data" / "raw").exists()
    landed = runner.invoke(app, ["data", "ingest", "--file", str(panel)])
    assert landed.exit_code == 0, landed.output


def test_replay_from_a_file_names_columns_the_contract_does_not_know(tmp_path: Path) -> None:
    from pipelines.core.settings import Settings
    from pipelines.data.sources import ReadOptions
    from pipelines.flows.service import replay_file

    settings = Settings(root=tmp_path)
    (tmp_path / "contract.yaml").write_text(PANEL)
    (tmp_path / "params.yaml").write_text((Path(__file__).parents[3] / "params.yaml").read_text())
    path = tmp_path / "later.csv"
    panel_rows().assign(note="x").drop(columns=["age"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"unknown note; missing age"):
        replay_file("http://127.0.0.1:9", path, settings, options=ReadOptions())


def test_a_projects_api_and_metrics_speak_its_contracts_words_not_the_demos(tmp_path: Path) -> None:
    from pipelines.core.scoring import score
    from pipelines.core.settings import Settings
    from services.api.main import create_app

    (tmp_path / "contract.yaml").write_text(PANEL)
    (tmp_path / "params.yaml").write_text((Path(__file__).parents[3] / "params.yaml").read_text())
    s = Settings(root=tmp_path, model_name="smokers", prediction_log_url=f"sqlite:///{tmp_path}/log.db")
    spec = create_app(s).openapi()
    text = json.dumps(spec).casefold()
    assert "smoker" in spec["info"]["summary"] and spec["info"]["title"].endswith("smokers")
    for demo_word in ("return", "order", "size hint", "fashion"):
        assert demo_word not in text, demo_word
    metrics = score(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.4, 0.6]), 0.5, 0.5)
    assert not [k for k in metrics if "return" in k]


def test_numbers_in_a_time_column_need_their_unit(tmp_path: Path) -> None:
    """Issue 21: a Parquet time column of epoch seconds landed as dates in 1970."""
    text = PANEL.replace(
        "  age: {", "  seen: {kind: timestamp, description: when, example: '2026-01-05T10:00:00'}\n  age: {"
    )
    rows = panel_rows().assign(year_batch="y1", seen=1_767_607_200 + np.arange(200))  # 2026-01-05 10:00 UTC on
    report = check_frame(rows, panel_contract(tmp_path, text), "y1")
    assert not report.ok and "give the column a `unit`" in report.summary()
    good, bad = Screen(
        panel_contract(tmp_path, text.replace("kind: timestamp,", "kind: timestamp, unit: s,")), "y1"
    ).screen(rows)
    assert bad.empty and str(good["seen"].iloc[0]) == "2026-01-05 10:00:00"
    with pytest.raises(ContractError, match="`unit` belongs to a timestamp column; this one is numeric"):
        panel_contract(
            tmp_path, PANEL.replace("kind: numeric, description: years,", "kind: numeric, unit: s, description: years,")
        )
