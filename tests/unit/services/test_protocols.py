"""The MLflow and Open Inference protocols' translation, without a model (the protocols part): their bodies into
the contract's records, checked as `/v1` checks them, and Relay's answer into their shapes. The real clients
against a real service are tests/integration/test_api_protocols.py."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from services.api.protocols import ProtocolError, Records
from services.api.routes import mlflow_protocol as mlflow
from services.api.routes import open_inference as oip
from tests.helpers import ORDERS

RECORDS = [
    ORDERS.example_record() | {"price": 10.0 + i, "customer_weight_kg": None if i == 1 else 60.0} for i in range(3)
]
COLUMNS = list(RECORDS[0])


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": [list(r.values()) for r in RECORDS], "index": [7, 8, 9]}},
        {"dataframe_records": RECORDS},
        {"instances": RECORDS, "params": {"x": 1}},
        {"inputs": {c: [r[c] for r in RECORDS] for c in COLUMNS}},
        {"inputs": RECORDS},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs-columns", "inputs-records"],
)
def test_mlflows_four_forms_are_the_same_records(body: dict[str, Any]) -> None:
    assert mlflow._records(body) == RECORDS


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([RECORDS[0]], "a JSON object with exactly one of"),
        ({"records": RECORDS}, "it has []"),
        ({"instances": RECORDS, "dataframe_records": RECORDS}, "it has ['dataframe_records', 'instances']"),
        ({"dataframe_split": {"data": [[1]]}}, 'with "columns" and "data"'),
        ({"dataframe_split": {"columns": ["price", "discount"], "data": [[1.0]]}}, "not all of one length"),
        ({"inputs": {"price": [1.0, 2.0], "discount": [0.1]}}, "not all of one length"),
        ({"instances": {"price": 1.0}}, "instances must be a list of records"),
    ],
)
def test_mlflow_bodies_that_break_the_protocol_are_named(body: Any, words: str) -> None:
    with pytest.raises(ProtocolError, match=".*".join(map(_escape, words.split()))) as caught:
        mlflow._records(body)
    assert caught.value.status == 400


def _escape(word: str) -> str:
    import re

    return re.escape(word)


def test_csv_reads_numbers_for_numeric_features_and_empty_fields_as_missing() -> None:
    body = b"price,brand,customer_weight_kg,usual_size\n49.9,northwind,,3\nabc,x,1e2,M\n"
    got = mlflow._csv_records(body, set(ORDERS.numeric_features()))
    assert got == [
        {"price": 49.9, "brand": "northwind", "customer_weight_kg": None, "usual_size": "3"},
        {"price": "abc", "brand": "x", "customer_weight_kg": 100.0, "usual_size": "M"},  # "abc": the validator says
    ]
    with pytest.raises(ProtocolError, match="CSV line 2 has 1 fields"):
        mlflow._csv_records(b"price,brand\n1.0\n", set())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/json", "application/json"),
        ("application/json; charset=UTF-8", "application/json"),
        ("text/csv", "text/csv"),
        ("text/csv; charset=latin-1", "only supports UTF-8"),
        ("application/json; format=pandas-split", "only supports the following content types"),
        ("application/vnd.apache.parquet", "only supports the following content types"),
        (None, "only supports the following content types"),
    ],
)
def test_content_types_as_mlflow_takes_them(header: str | None, expected: str) -> None:
    if "/" in expected:
        assert mlflow._content_type(header) == expected
        return
    with pytest.raises(ProtocolError, match=expected) as caught:
        mlflow._content_type(header)
    assert caught.value.status == 415


def test_records_are_checked_as_v1_checks_them() -> None:
    records = Records(ORDERS, max_records=5)

    def where(i: int, name: str) -> str:
        return f"record {i}, {name}"

    nan = [r | {"customer_weight_kg": math.nan} for r in RECORDS]
    assert [r["customer_weight_kg"] for r in records.check(nan, where)] == [None] * 3  # nullable: NaN is missing
    cases: list[tuple[dict[str, Any], str]] = [
        ({"price": math.nan}, "record 0, price: Input should be a finite number"),  # not nullable: refused
        ({"price": "49.9"}, "record 0, price: Input should be a valid number"),
        ({"discount": True}, "record 0, discount: Input should be a valid number"),
        ({"usual_size": 3}, "record 0, usual_size: Input should be"),
        ({"colour": "red"}, "record 0, colour: Extra inputs are not permitted"),
    ]
    for change, message in cases:
        with pytest.raises(ProtocolError, match=message):
            records.check([RECORDS[0] | change], where)
    with pytest.raises(ProtocolError, match="6 records; at most 5 per request"):
        records.check(RECORDS * 2, where)
    with pytest.raises(ProtocolError, match="no records"):
        records.check([], where)
    many = [{"price": "x"} for _ in range(3)]  # each lacks every other feature too
    with pytest.raises(ProtocolError) as caught:
        records.check(many, where)
    assert "\n" not in str(caught.value) and str(caught.value).endswith("more)")


TENSORS = oip.Tensors(ORDERS, max_batch_size=10)


def _json_inputs(records: list[dict[str, Any]], nested: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "datatype": datatype,
            "shape": [len(records), 1] if nested else [len(records)],
            "data": [[r[name]] if nested else r[name] for r in records],
        }
        for name, datatype in TENSORS.inputs.items()
    ]


def test_the_metadata_are_the_contracts_features_and_the_tasks_outputs() -> None:
    inputs, outputs = TENSORS.metadata()
    assert [(t.name, t.datatype, t.shape) for t in inputs][:2] == [
        ("customer_height_cm", "FP64", [-1]),
        ("customer_weight_kg", "FP64", [-1]),
    ]
    assert {t.name: t.datatype for t in inputs}["brand"] == "BYTES"
    assert [(t.name, t.datatype) for t in outputs] == [("probability", "FP64"), ("label", "INT64")]


@pytest.mark.parametrize("nested", [False, True], ids=["shape-n", "shape-n-1"])
def test_tensors_become_the_contracts_records(nested: bool) -> None:
    request = oip.InferenceRequest.model_validate({"inputs": _json_inputs(RECORDS, nested)})
    assert TENSORS.records_of(request, b"") == RECORDS


def test_binary_tensors_as_tritonclient_sends_them() -> None:
    from tritonclient.utils import serialize_byte_tensor

    inputs, blobs = [], []
    for name, datatype in TENSORS.inputs.items():
        values = [r[name] for r in RECORDS]
        if datatype == "FP64":
            blob = np.array([math.nan if v is None else v for v in values], dtype="<f8").tobytes()
        else:
            blob = serialize_byte_tensor(np.array(values, dtype=object)).item()
        inputs.append({"name": name, "datatype": datatype, "shape": [3], "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    request = oip.InferenceRequest.model_validate({"inputs": inputs})
    assert TENSORS.records_of(request, b"".join(blobs)) == RECORDS
    with pytest.raises(ProtocolError, match="does not fit the body"):
        TENSORS.records_of(request, b"".join(blobs)[:-1])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda t: [*t, t[0]], "is given twice"),
        (lambda t: t[1:], "missing inputs ['customer_height_cm']"),
        (lambda t: [*t, {"name": "colour", "datatype": "BYTES", "shape": [3], "data": ["a", "b", "c"]}], "unexpected"),
        (lambda t: [{**t[0], "datatype": "BYTES"}, *t[1:]], "is BYTES; it takes"),
        (lambda t: [{**t[0], "shape": [1, 3]}, *t[1:]], "it takes [n] or [n, 1]"),
        (lambda t: [{**t[0], "shape": [2], "data": [170.0, 171.0]}, *t[1:]], "not all of one length"),
        (lambda t: [{**t[0], "shape": [4]}, *t[1:]], "has 3 values for shape [4]"),
        (lambda t: [{**t[0], "data": [170.0, "171", True]}, *t[1:]], "'customer_height_cm' element 1: Input should"),
    ],
)
def test_tensors_that_break_the_contract_are_named(change: Any, words: str) -> None:
    request = oip.InferenceRequest.model_validate({"inputs": change(_json_inputs(RECORDS))})
    with pytest.raises(ProtocolError, match=_escape(words)) as caught:
        TENSORS.records_of(request, b"")
    assert caught.value.status == 400


def test_outputs_in_json_or_in_binary_as_tritonclient_reads_them() -> None:
    from types import SimpleNamespace

    from tritonclient.http import InferResult

    model: Any = SimpleNamespace(name="relay-returns", version="3")
    out = np.array([[0.75, 0.25], [0.125, 0.875]])
    tensors = TENSORS.outputs_of(out, [{"label": 0}, {"label": 1}])
    plain = oip._answer(
        oip.InferenceRequest.model_validate(
            {"id": "a", "inputs": [{"name": "x", "shape": [0], "datatype": "FP64", "data": []}]}
        ),
        "r",
        model,
        tensors,
    )
    result = InferResult.from_response_body(plain.body)
    assert result.as_numpy("probability").tolist() == [0.25, 0.875] and result.as_numpy("label").tolist() == [0, 1]
    assert result.get_response()["id"] == "a" and result.get_response()["model_version"] == "3"
    asked = {
        "parameters": {"binary_data_output": True},
        "inputs": [{"name": "x", "shape": [0], "datatype": "FP64", "data": []}],
        "outputs": [{"name": "label", "parameters": {"binary_data": False}}, {"name": "probability"}],
    }
    binary = oip._answer(oip.InferenceRequest.model_validate(asked), "r", model, tensors)
    length = int(binary.headers["Inference-Header-Content-Length"])
    result = InferResult.from_response_body(binary.body, header_length=length)
    assert result.as_numpy("probability").tolist() == [0.25, 0.875] and result.as_numpy("label").tolist() == [0, 1]
    assert [o["name"] for o in result.get_response()["outputs"]] == ["label", "probability"]
    assert result.get_response()["id"] == "r"  # no id given: the request's own
