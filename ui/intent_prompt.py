"""For you's "What are you in the mood for?": the prompt, example chips, and the request as
removable chips.

Each constraint the API read in the request is a chip; removing one rewrites the request from
the chips left ("horror, between 1990 and 1999, like Alien"), which the API reads back the same
way, so the text box always says what the list was made from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from ui.api_client import RequestIntent

TEXT_KEY = "cm-fy-q"
EXAMPLES_KEY = "cm-fy-q-examples"
CHIP_KEY = "cm-fy-q-chip-"
CLEAR_KEY = "cm-fy-q-clear"
MAX_CHARS = 300
EXAMPLES = (
    "Something scary from the 90s",
    "Like Alien but funnier",
    "I want to cry",
    "Date night, no horror",
    "A classic western",
)


@dataclass(frozen=True)
class Chip:
    """One constraint as shown (``label``) and as words that ask for it again (``text``);
    ``kind`` is "genre", "no-genre", "years" or "like", and ``genre`` the genre a genre chip
    names."""

    label: str
    text: str
    kind: str = "like"
    genre: str | None = None
    years: tuple[int | None, int | None] = (None, None)


def chips_of(intent: RequestIntent) -> list[Chip]:
    chips = [Chip(genre, genre.lower(), "genre", genre) for genre in intent.genres]
    chips += [Chip(f"No {genre}", f"no {genre.lower()}", "no-genre", genre)
              for genre in intent.exclude_genres]
    years = years_text(intent.year_from, intent.year_to)
    if years is not None:
        chips.append(Chip(*years, kind="years", years=(intent.year_from, intent.year_to)))
    chips += [
        Chip(f"Like {film.name}" + (f" ({film.year})" if film.year else ""), f"like {film.name}")
        for film in intent.similar_to
    ]
    return chips


def clashes(chip: Chip, genre: str | None, years: tuple[int | None, int | None]) -> bool:
    """Whether ``chip`` contradicts the Genre filter ``genre`` or the Decade filter ``years``
    (None: not set): a genre chip naming another genre, "No <the filter's genre>", or a year
    range reaching outside the decade."""
    if genre is not None and chip.kind == "genre":
        return chip.genre != genre
    if genre is not None and chip.kind == "no-genre":
        return chip.genre == genre
    if years != (None, None) and chip.kind == "years":
        low, high = chip.years
        return low is None or high is None or low < (years[0] or low) or high > (years[1] or high)
    return False


def request_without_clashes(
    intent: RequestIntent, genre: str | None, years: tuple[int | None, int | None]
) -> tuple[str, list[Chip]] | None:
    """The request rewritten without the chips a filter contradicts, and those chips; None
    when nothing clashes."""
    chips = chips_of(intent)
    gone = [chip for chip in chips if clashes(chip, genre, years)]
    if not gone:
        return None
    return ", ".join(chip.text for chip in chips if chip not in gone), gone


def years_text(year_from: int | None, year_to: int | None) -> tuple[str, str] | None:
    """(label, words) for a year range: ("1990–1999", "between 1990 and 1999")."""
    if year_from is None and year_to is None:
        return None
    if year_from is None:
        return f"Up to {year_to}", f"until {year_to}"
    if year_to is None:
        return f"From {year_from}", f"since {year_from}"
    if year_from == year_to:
        return str(year_from), f"from {year_from}"
    return f"{year_from}–{year_to}", f"between {year_from} and {year_to}"


def request_without(chips: list[Chip], removed: int) -> str:
    """The request rewritten from every chip but ``removed`` (clauses split by commas)."""
    return ", ".join(chip.text for i, chip in enumerate(chips) if i != removed)


def _use_example(then: Callable[[], object] | None) -> None:
    chosen = st.session_state.get(EXAMPLES_KEY)
    if chosen:
        st.session_state[TEXT_KEY] = chosen
        if then is not None:
            then()
    st.session_state[EXAMPLES_KEY] = None


def _set_request(text: str) -> None:
    st.session_state[TEXT_KEY] = text


def prompt(on_new_request: Callable[[], None] | None = None) -> str | None:
    """The text box and example chips; the request to send, or None when there is none.

    ``on_new_request`` runs (as a callback, before the page is drawn) when the person types
    a request or picks an example."""
    st.text_input(
        "What are you in the mood for?",
        key=TEXT_KEY,
        max_chars=MAX_CHARS,
        placeholder="Something scary from the 90s, like Alien but funnier…",
        on_change=on_new_request,
    )
    st.pills("Try", EXAMPLES, key=EXAMPLES_KEY, on_change=_use_example,
             args=(on_new_request,), label_visibility="collapsed")
    text = str(st.session_state.get(TEXT_KEY) or "").strip()
    return text or None


def show_reading(intent: RequestIntent | None, relaxed: tuple[str, ...],
                 note: str | None) -> None:
    """How the request was read: removable chips, what was relaxed, words not used."""
    if intent is not None:
        chips = chips_of(intent)
        if chips:
            with st.container(horizontal=True, vertical_alignment="center"):
                for i, chip in enumerate(chips):
                    st.button(
                        chip.label, key=f"{CHIP_KEY}{i}", icon=":material/close:",
                        help="Remove this from the request", on_click=_set_request,
                        args=(request_without(chips, i),),
                    )
                st.button("Clear", key=CLEAR_KEY, type="tertiary", on_click=_set_request,
                          args=("",))
        if intent.unparsed:
            st.caption("Not used: " + ", ".join(f"“{w}”" for w in intent.unparsed))
    for reason in relaxed:
        st.info(reason, icon=":material/tune:")
    if note:
        st.info(note, icon=":material/info:")
