"""Pins FunkSVD's accuracy on a fixed public split, so an accuracy loss is caught."""

from __future__ import annotations

from pathlib import Path

from ml.models.funksvd.model import FunkSVDParams
from ml.training.evaluate import evaluate, read_100k_split

#: Measured with the default parameters (seed 0) on ml-100k u1: see docs/model.md.
U1_RMSE = 0.910
TOLERANCE = 0.005


def test_ml100k_u1_rmse_is_pinned(shared_data: Path):
    folder = shared_data / "ml-100k"
    report = evaluate(read_100k_split(folder / "u1.base"), read_100k_split(folder / "u1.test"),
                      FunkSVDParams(), progress=False)
    rows = {row["model"]: row["rmse"] for row in report.rating}
    assert abs(rows["funksvd"] - U1_RMSE) <= TOLERANCE, rows
    assert rows["funksvd"] < rows["bias_baseline"] - 0.02
