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

from pipelines.core.atomic import atomic_path

_BLUE, _GREY, _RED = "#1f5f99", "#9a9a9a", "#b8392f"


def _save(fig: Figure, target: Path) -> Path:
    fig.tight_layout()
    with atomic_path(target) as tmp:
        # Fixed metadata keeps the bytes identical for identical plots, so git shows no change.
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    return target


def confusion(cells: list[dict[str, Any]], threshold: float, target: Path) -> Path:
    counts = [[0, 0], [0, 0]]
    for c in cells:
        counts[c["actual"]][c["predicted"]] = c["count"]
    total = sum(map(sum, counts)) or 1
    fig = Figure(figsize=(4.2, 3.8))
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    peak = max(max(row) for row in counts)
    for a in (0, 1):
        for p in (0, 1):
            n = counts[a][p]
            ax.text(p, a, f"{n}\n{n / total:.1%}", ha="center", va="center", color="white" if n > peak / 2 else "black")
    ax.set_xticks([0, 1], ["kept (0)", "returned (1)"])
    ax.set_yticks([0, 1], ["kept (0)", "returned (1)"])
    ax.set(xlabel="predicted", ylabel="actual", title=f"Confusion matrix at threshold {threshold:g}")
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


def importance(rows: list[dict[str, Any]], target: Path) -> Path:
    ordered = pd.DataFrame(rows).sort_values("importance", kind="stable")
    fig = Figure(figsize=(5.5, 0.35 * len(ordered) + 1.4))
    ax = fig.add_subplot()
    ax.barh(ordered["feature"], ordered["importance"], xerr=ordered["std"], color=_BLUE)
    ax.axvline(0, color=_GREY, linewidth=0.8)
    ax.set(xlabel="drop in ROC AUC when the feature is shuffled", title="Permutation importance (holdout)")
    return _save(fig, target)


def segments(rows: list[dict[str, Any]], overall_auc: float, target: Path) -> Path:
    """ROC AUC per segment value, worst first; segments too small to rank are drawn grey."""
    ordered = sorted(rows, key=lambda r: (r.get("roc_auc") is None, r.get("roc_auc") or 0.0), reverse=True)
    fig = Figure(figsize=(6, 0.28 * len(ordered) + 1.6))
    ax = fig.add_subplot()
    labels = [f"{r['segment']}  (n={r['rows']})" for r in ordered]
    values = [r.get("roc_auc") or 0.0 for r in ordered]
    colours = [_BLUE if r["ranked"] else _GREY for r in ordered]
    ax.barh(labels, values, color=colours)
    ax.axvline(overall_auc, color=_RED, linestyle="--", label=f"overall {overall_auc:.3f}")
    low = min([v for v in values if v > 0] + [overall_auc])
    ax.set(xlabel="ROC AUC", xlim=(max(0.0, low - 0.05), 1.0))
    ax.set_title("Where the model is weaker: ROC AUC per segment (holdout)")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(loc="lower right")
    return _save(fig, target)
