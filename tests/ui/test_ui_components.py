"""The pure pieces of the UI: card HTML, titles, stars, decades, the mode badge, resume codes."""

from __future__ import annotations

from ui import components, session
from ui.api_client import Credentials, Movie


def test_card_html_escapes_titles_and_hides_the_referrer() -> None:
    film = Movie(movie_id=1, title="<script>alert(1)</script> & $5", year=1999,
                 genres=["Drama"], tmdb_id=None, imdb_id=None, rating_count=0, mean_rating=None)
    html = components.card_html(film, "https://image.tmdb.org/t/p/w342/a.jpg", reason="Because")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html and "&amp;" in html
    assert "$" not in html  # Markdown would read $…$ as maths
    assert 'referrerpolicy="no-referrer"' in html
    assert "\n" not in html  # one raw-HTML block for Markdown
    assert components.row_title_html(film).count("&lt;script&gt;") == 1


def test_half_stars() -> None:
    labels = [components.rating_choice_label(v) for v in components.RATING_VALUES]
    assert labels == ["½", "1", "1½", "2", "2½", "3", "3½", "4", "4½", "5"]
    assert components.RATING_VALUES[0] == 0.5 and components.RATING_VALUES[-1] == 5.0
    assert len(components.RATING_VALUES) == 10


def test_decades_map_to_year_bounds() -> None:
    assert components.decade_options([1990, 2010, 1920, 2010]) == ["2010s", "1990s", "1920s"]
    assert components.decade_bounds("1990s") == (1990, 1999)
    assert components.decade_bounds(None) == (None, None)
    assert components.decade_bounds("Any decade") == (None, None)


def test_mode_badge_names_the_number_the_api_gave() -> None:
    assert "rate 2 more to personalise" in components.mode_badge_html("popularity", 2)
    assert "Personal" in components.mode_badge_html("personalized", 0)


def test_resume_codes_round_trip_and_reject_garbage() -> None:
    creds = Credentials(42, "abc:def-_")
    assert session.parse_resume_code(session.resume_code(creds)) == creds
    assert session.parse_resume_code(" 42:abc:def-_ ") == creds
    for bad in ("", "42", "x:tok", "42:", ":tok", "²:tok", "٤٢:tok"):
        assert session.parse_resume_code(bad) is None
