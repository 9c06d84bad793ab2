"""Evaluation plots as PNG (owner: data scientist), drawn from the same JSON the DVC plots read.

The JSON files are what `dvc plots diff` compares across versions; the PNGs are what a person opens in
the MLflow UI or a pull request. Both come from one evaluation, so they cannot disagree. Figures are
built with matplotlib's object API (no pyplot state), so drawing is safe in any thread or process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pipelines.core import artifacts
from pipelines.core.atomic import atomic_path
from pipelines.core.contract import Contract
from pipelines.core.params import LOWER_IS_BETTER, TASK_METRICS

_BLUE, _GREY, _RED = "#1f5f99", "#9a9a9a", "#b8392f"


def _save(fig: Figure, target: Path) -> Path:
    fig.tight_layout()
    with atomic_path(target) as tmp:
        # Fixed metadata keeps the bytes identical for identical plots, so git shows no change.
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    return target


def confusion(cells: list[dict[str, Any]], names: list[str], title: str, target: Path) -> Path:
    k = len(names)
    counts = [[0] * k for _ in range(k)]
    for c in cells:
        counts[c["actual"]][c["predicted"]] = c["count"]
    total = sum(map(sum, counts)) or 1
    fig = Figure(figsize=(2.2 + 1.0 * k, 1.8 + 1.0 * k))
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    peak = max(max(row) for row in counts)
    for a in range(k):
        for p in range(k):
            n = counts[a][p]
            ax.text(p, a, f"{n}\n{n / total:.1%}", ha="center", va="center", color="white" if n > peak / 2 else "black")
    ax.set_xticks(range(k), names, rotation=30 if k > 3 else 0)
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    return _save(fig, target)


def residuals(points: list[dict[str, float]], rmse: float, target: Path) -> Path:
    """Residual (actual minus predicted) against the prediction: a pattern or a funnel says where it errs."""
    fig = Figure(figsize=(5, 4.2))
    ax = fig.add_subplot()
    ax.scatter([p["predicted"] for p in points], [p["residual"] for p in points], s=8, alpha=0.5, color=_BLUE)
    ax.axhline(0, color=_GREY, linestyle="--")
    ax.set(xlabel="predicted", ylabel="actual - predicted", title=f"Residuals (holdout; RMSE {rmse:.4g})")
    return _save(fig, target)


def roc(points: list[dict[str, float]], auc: float, target: Path) -> Path:
    fig = Figure(figsize=(4.5, 4.2))
    ax = fig.add_subplot()
    ax.plot([p["fpr"] for p in points], [p["tpr"] for p in points], color=_BLUE, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (holdout)")
    ax.legend(loc="lower right")
    return _save(fig, target)


def precision_recall(points: list[dict[str, float]], ap: float, base_rate: float, target: Path) -> Path:
    fig = Figure(figsize=(4.5, 4.2))
    ax = fig.add_subplot()
    ax.plot([p["recall"] for p in points], [p["precision"] for p in points], color=_BLUE, label=f"model (AP {ap:.3f})")
    ax.axhline(base_rate, color=_GREY, linestyle="--", label=f"chance ({base_rate:.2f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve (holdout)", ylim=(0, 1.02))
    ax.legend(loc="upper right")
    return _save(fig, target)


def calibration(points: list[dict[str, float]], brier: float, target: Path) -> Path:
    fig = Figure(figsize=(4.5, 4.2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", label="perfectly calibrated")
    predicted, observed = [p["predicted"] for p in points], [p["observed"] for p in points]
    ax.plot(predicted, observed, marker="o", color=_BLUE, label=f"model (Brier {brier:.3f})")
    ax.set(xlabel="mean predicted probability", ylabel="observed return rate", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Calibration (holdout, quantile bins)")
    ax.legend(loc="upper left")
    return _save(fig, target)


def importance(rows: list[dict[str, Any]], metric: str, target: Path) -> Path:
    ordered = pd.DataFrame(rows).sort_values("importance", kind="stable")
    fig = Figure(figsize=(5.5, 0.35 * len(ordered) + 1.4))
    ax = fig.add_subplot()
    ax.barh(ordered["feature"], ordered["importance"], xerr=ordered["std"], color=_BLUE)
    ax.axvline(0, color=_GREY, linewidth=0.8)
    ax.set(xlabel=f"drop in {metric} when the feature is shuffled", title="Permutation importance (holdout)")
    return _save(fig, target)


def segments(rows: list[dict[str, Any]], metric: str, overall: float, target: Path) -> Path:
    """`metric` per segment value, worst first; segments too small to rank are drawn grey."""
    lower = metric in LOWER_IS_BETTER
    ordered = sorted(rows, key=lambda r: (r.get(metric) is None, r.get(metric) or 0.0), reverse=not lower)
    fig = Figure(figsize=(6, 0.28 * len(ordered) + 1.6))
    ax = fig.add_subplot()
    labels = [f"{r['segment']}  (n={r['rows']})" for r in ordered]
    values = [r.get(metric) or 0.0 for r in ordered]
    colours = [_BLUE if r["ranked"] else _GREY for r in ordered]
    ax.barh(labels, values, color=colours)
    ax.axvline(overall, color=_RED, linestyle="--", label=f"overall {overall:.3f}")
    if metric in ("roc_auc", "macro_f1", "accuracy"):  # bounded above by 1: zoom in on where segments differ
        low = min([v for v in values if v > 0] + [overall])
        ax.set(xlim=(max(0.0, low - 0.05), 1.0))
    ax.set(xlabel=metric)
    ax.set_title(f"Where the model is weaker: {metric} per segment (holdout)")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(loc="lower right")
    return _save(fig, target)


def draw(
    contract: Contract,
    curves: dict[str, Any],
    metrics: dict[str, float],
    segments_: list[dict[str, Any]],
    threshold: float | None,
    folder: Path,
) -> None:
    """Every picture of the contract's task (artifacts.PICTURES) into `folder`, from the evaluation's curves."""
    task = contract.task
    headline = TASK_METRICS[task][0]

    def picture(name: str) -> Path:
        return folder / artifacts.picture_file(name)

    if task == "binary":
        roc(curves["roc"], metrics["roc_auc"], picture("roc"))
        positives = metrics["true_positives"] + metrics["false_negatives"]
        precision_recall(curves["pr"], metrics["pr_auc"], positives / metrics["rows"], picture("pr"))
        calibration(curves["calibration"], metrics["brier"], picture("calibration"))
    if task == "regression":
        residuals(curves["residuals"], metrics["rmse"], picture("residuals"))
    else:
        title = (
            f"Confusion matrix at threshold {threshold:g}" if threshold is not None else "Confusion matrix (top class)"
        )
        confusion(curves["confusion"], [str(label) for label in contract.labels], title, picture("confusion"))
    importance(curves["importance"], headline, picture("importance"))
    segments(segments_, headline, metrics[headline], picture("segments"))
