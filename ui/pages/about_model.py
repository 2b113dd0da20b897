"""About the model: offline accuracy (RMSE) and top-N quality, next to the baselines.

Everything here comes from ``GET /metrics`` (the served artifact's manifest), so the page
always describes the model that is actually answering.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import api_client, components

RATING_COLUMNS = {"model": "Model", "rmse": "RMSE", "mae": "MAE"}
TOP_N_COLUMNS = {
    "model": "Model",
    "recall_at_10": "Recall@10",
    "ndcg_at_10": "NDCG@10",
    "coverage": "Coverage",
}


def metrics_table(rows: list[dict[str, Any]], columns: dict[str, str]) -> list[dict[str, Any]]:
    """The rows with readable headers, known columns first; unknown extra fields are kept."""
    known = [name for name in columns if any(name in row for row in rows)]
    extra = dict.fromkeys(name for row in rows for name in row if name not in columns)
    order = known + list(extra)
    return [{columns.get(name, name): row.get(name) for name in order} for row in rows]


def data_summary(data: Any) -> str | None:
    """One line about the training data: its scalar facts (file lists and hashes left out)."""
    if not isinstance(data, dict):
        return None if data is None else str(data)
    facts = [
        f"{key.replace('_', ' ')}: {value:,}"
        if isinstance(value, int)
        else f"{key.replace('_', ' ')}: {value}"
        for key, value in data.items()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
    ]
    return " · ".join(facts) or None


components.page_header(
    "Behind the projector",
    "About the model",
    "How well the served model predicts ratings, and how good its top ten is, measured "
    "offline on held-out ratings and compared with simple baselines.",
)

with components.api_guard():
    metrics = api_client.get_client().metrics()

facts = [f"Model **{metrics.model_version or 'unknown'}**"]
if metrics.trained_at:
    facts.append(f"trained {metrics.trained_at}")
st.markdown(" · ".join(facts))
if summary := data_summary(metrics.data):
    st.caption(f"Data — {summary}")

st.subheader("Rating accuracy")
st.caption("RMSE and MAE on held-out ratings: lower is better.")
if metrics.rating:
    rating = metrics_table(metrics.rating, RATING_COLUMNS)
    table, chart = st.columns([2, 3], gap="large")
    table.dataframe(rating, hide_index=True, width="stretch")
    if "RMSE" in rating[0]:
        with chart:
            st.bar_chart(
                rating,
                x="Model",
                y="RMSE",
                color="#d4af37",
                sort="RMSE",
                horizontal=True,
                height=240,
            )
else:
    st.info("This model's manifest has no rating metrics.")

st.subheader("Top-10 quality")
st.caption("Recall@10 and NDCG@10 against the popularity ranking: higher is better.")
if metrics.top_n:
    top_n = metrics_table(metrics.top_n, TOP_N_COLUMNS)
    table, chart = st.columns([2, 3], gap="large")
    table.dataframe(top_n, hide_index=True, width="stretch")
    plotted = [name for name in ("Recall@10", "NDCG@10") if name in top_n[0]]
    if plotted:
        with chart:
            st.bar_chart(
                top_n,
                x="Model",
                y=plotted,
                color=["#d4af37", "#f4e4a6"][: len(plotted)],
                stack=False,
                horizontal=True,
                height=240,
            )
else:
    st.info("This model's manifest has no top-N metrics.")
