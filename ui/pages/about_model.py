"""About the model, written for people: what it learnt from, how good it is, when it was made.

Everything comes from the served model's manifest (``GET /model/evaluation``), so the page
describes the model that is answering; the engineers' tables are folded away at the bottom.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import altair as alt
import streamlit as st

from ui import api_client, components

RATING_COLUMNS = {"model": "Model", "rmse": "RMSE", "mae": "MAE"}
TOP_N_COLUMNS = {
    "model": "Model",
    "recall_at_10": "Recall@10",
    "ndcg_at_10": "NDCG@10",
    "coverage": "Coverage",
}
#: What the manifest's model names mean, in words.
PLAIN_NAMES = {
    "global_mean": "Guess the average",
    "bias_baseline": "Averages only",
    "funksvd": "CineMatch",
    "popularity": "Best rated by all",
    "popularity_count": "Most rated by all",
    "funksvd_predicted_rating": "Top stars only",
    "service_ranking": "CineMatch",
}
#: The lists that are the same for everyone, and how the top-ten story names each.
SAME_FOR_ALL = {"popularity": "best-rated", "popularity_count": "most-rated"}
SAME_FOR_ALL_EXPLAINED = (
    "“Best rated by all” and “Most rated by all” hand everyone the same ten films: the "
    "films with the best average rating among those many people rated, or simply the films "
    "rated most often. “Top stars only” is CineMatch's own star guesses, highest first."
)
GOLD, PALE = "#d4af37", "#f4e4a6"
#: Room to the right of a chart, so the last figure of the axis is never cut on a phone.
CHART_PADDING = {"left": 4, "right": 16, "top": 4, "bottom": 4}


def plain_name(model: Any) -> str:
    text = str(model)
    return PLAIN_NAMES.get(text, text.replace("_", " ").capitalize())


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
        f"{key.replace('_', ' ')}: {value:,}" if isinstance(value, int) else
        f"{key.replace('_', ' ')}: {value}"
        for key, value in data.items()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
    ]
    return " · ".join(facts) or None


def learnt_from(data: Any) -> str:
    """ "588,486 ratings that 3,609 people gave to 10,417 films", from what the manifest says."""
    if not isinstance(data, dict):
        return "ratings people gave to films on MovieLens"
    ratings, people, films = data.get("n_ratings"), data.get("n_users"), data.get("n_movies")
    parts = [f"{ratings:,} ratings" if isinstance(ratings, int) else "the ratings"]
    if isinstance(people, int):
        parts.append(f"that {people:,} people gave")
    if isinstance(films, int):
        parts.append(f"to {films:,} films")
    return " ".join(parts)


def movielens_part(data: Any, app_ratings: int, app_users: int) -> Any:
    """The manifest's counts without this service's own ratings (a retrained model's
    ``n_ratings``/``n_users`` include them), so "on MovieLens" stays true."""
    if not isinstance(data, dict) or not (app_ratings or app_users):
        return data
    part = dict(data)
    for key, less in (("n_ratings", app_ratings), ("n_users", app_users)):
        if isinstance(part.get(key), int):
            part[key] = max(part[key] - less, 0)
    return part


def own_ratings_line(app_ratings: int, app_users: int) -> str:
    """How many of this service's own ratings the model learnt from, in words (0 included)."""
    if app_ratings <= 0:
        return ("It has not learnt from any ratings given here on CineMatch yet: this version "
                "knows MovieLens only. Ratings given here reach it when it is retrained.")
    people = "one person" if app_users == 1 else f"{app_users:,} people"
    ratings = "one rating" if app_ratings == 1 else f"{app_ratings:,} ratings"
    return f"It also learnt from **{ratings}** that {people} gave here on CineMatch."


def trained_on(stamp: str | None) -> str | None:
    """ "22 November 2026" from the manifest's ISO time."""
    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return f"{when.day} {when.strftime('%B %Y')}"


def figure(rows: list[dict[str, Any]], model: str, metric: str) -> float | None:
    """The ``metric`` of ``model`` in the manifest's rows, if it has a number for it."""
    value = next((row for row in rows if row.get("model") == model), {}).get(metric)
    return value if isinstance(value, int | float) else None


def rating_story(rows: list[dict[str, Any]]) -> None:
    """How close its star guesses are, in stars, against guessing the average."""
    ours, naive = figure(rows, "funksvd", "mae"), figure(rows, "global_mean", "mae")
    if ours is not None:
        line = (f"When it guesses how many stars you'd give a film, it is off by "
                f"**{ours:.2f} stars** on average")
        if naive is not None:
            line += f", against {naive:.2f} for someone who always guesses the average"
        st.markdown(line + ".")
    bars(rows, "mae", ("How it guesses", "Average miss, in stars"), GOLD, ascending=True,
         caption="Shorter bars are better: the average miss on ratings it never saw.")


def list_story(rows: list[dict[str, Any]]) -> None:
    """How many of the films people went on to love its top ten finds, against the better
    of the lists that are the same for everyone."""
    ours = figure(rows, "service_ranking", "recall_at_10")
    charts = [(value, kind) for model, kind in SAME_FOR_ALL.items()
              if (value := figure(rows, model, "recall_at_10")) is not None]
    if ours is not None:
        line = (f"Of the films people went on to rate 4 stars or more, their CineMatch top ten "
                f"held **{ours:.0%}**")
        if charts:
            chart, kind = max(charts)
            line += f"; the ten {kind} films, the same for everyone, held {chart:.0%}"
            if chart and ours:
                line += f", so the personal list finds about {ours / chart:.1f}× as many"
        st.markdown(line + ".")
    bars(rows, "recall_at_10", ("Top ten from", "Loved films found"), PALE, ascending=False,
         caption="Longer bars are better: the share (in %) of each person's later favourites "
         "that were in their top ten. " + SAME_FOR_ALL_EXPLAINED, percent=True)


def bars(rows: list[dict[str, Any]], metric: str, axes: tuple[str, str], color: str, *,
         ascending: bool, caption: str, percent: bool = False) -> None:
    """One bar per model that has ``metric``, named in words (``axes``: labels, values)."""
    label, value = axes
    chart = [
        {label: plain_name(row.get("model")),
         value: round(100 * row[metric], 1) if percent else row[metric]}
        for row in rows
        if isinstance(row.get(metric), int | float)
    ]
    if chart:
        st.altair_chart(bar_chart(chart, axes, color, ascending=ascending), width="stretch")
        st.caption(caption)


def bar_chart(chart: list[dict[str, Any]], axes: tuple[str, str], color: str, *,
              ascending: bool) -> alt.Chart:
    """Horizontal bars; the value axis's end labels sit inside the chart (``labelFlush``)
    with room on the right, so a narrow phone never cuts the last one."""
    label, value = axes
    order: Literal["ascending", "descending"] = "ascending" if ascending else "descending"
    return (
        alt.Chart(alt.Data(values=chart), height=200, padding=CHART_PADDING)
        .mark_bar(color=color)
        .encode(
            x=alt.X(f"{value}:Q", title=value, axis=alt.Axis(labelFlush=True, tickCount=5)),
            y=alt.Y(f"{label}:N", title=label, sort=alt.EncodingSortField(value, order=order),
                    axis=alt.Axis(labelLimit=160)),
            tooltip=[f"{label}:N", f"{value}:Q"],
        )
    )


components.page_header(
    "Behind the projector",
    "About the model",
    "What CineMatch learnt from, how good its picks are, and when it was made.",
)

with components.api_guard():
    metrics = api_client.get_client().metrics()

st.subheader("What it learnt from")
own = (metrics.app_ratings.n_ratings, metrics.app_ratings.n_users)
movielens = movielens_part(metrics.data, *own)
st.markdown(
    f"CineMatch learnt from {learnt_from(movielens)} on MovieLens, a film-rating site run "
    "by the GroupLens research lab. It knows no one's name, only who liked what. When you "
    "rate films, it places you among those tastes at once."
)
st.markdown(own_ratings_line(*own))
when = trained_on(metrics.trained_at)
version = f"version **{metrics.model_version or 'unknown'}**"
st.markdown(f"This version was trained on **{when}** ({version})." if when
            else f"This is {version}; when it was trained is not recorded.")

st.subheader("How good its picks are")
st.caption("Measured on ratings held back from training, so it had never seen them.")
stars_col, list_col = st.columns(2, gap="large")
with stars_col:
    if metrics.rating:
        rating_story(metrics.rating)
    else:
        st.info("This model's description has no figures for its star guesses.")
with list_col:
    if metrics.top_n:
        list_story(metrics.top_n)
    else:
        st.info("This model's description has no figures for its top ten.")

with st.expander("For the technically minded", icon=":material/science:"):
    facts = [f"Model **{metrics.model_version or 'unknown'}**"]
    if when:
        facts.append(f"trained {when}")
    st.markdown(" · ".join(facts))
    if summary := data_summary(metrics.data):
        st.caption(f"Data — {summary}")
    if metrics.rating:
        st.caption("Rating accuracy: RMSE and MAE on held-out ratings (lower is better).")
        st.dataframe(metrics_table(metrics.rating, RATING_COLUMNS), hide_index=True,
                     width="stretch")
    if metrics.top_n:
        st.caption("Top-10 quality: Recall@10 and NDCG@10 (higher is better).")
        st.dataframe(metrics_table(metrics.top_n, TOP_N_COLUMNS), hide_index=True,
                     width="stretch")
