"""In a real browser on the real API: For you keeps what the person built across other pages,
an action in "More like this" says so at once, and a refused resume code or sign-in is
explained under its form, in plain words, and gone after a success."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import CineMatchApp
from tests.e2e.test_browser import WAIT_MS, settle
from tests.e2e.test_trust import DESKTOP, FOR_YOU_CARDS, PHONE, nav, new_user, open_page, signed_in

pytestmark = pytest.mark.browser

TOAST = '[data-testid="stToast"]'
REQUEST = "a classic western"


def test_for_you_is_as_left_after_a_visit_to_search(
    cinematch: CineMatchApp, browser: Any
) -> None:
    from playwright.sync_api import expect

    with signed_in(cinematch, browser, "/for_you") as page:
        expect(page.locator(FOR_YOU_CARDS).first).to_be_visible()
        settle(page)
        page.get_by_text("Mixed", exact=True).first.click()
        settle(page)
        page.get_by_text("Predicted stars", exact=True).first.click()
        settle(page)
        box = page.get_by_role("textbox", name="What are you in the mood for?")
        box.fill(REQUEST)
        box.press("Enter")
        # The request's list is drawn (its chip is there) before a card is acted on: a click
        # on the list before it would land on a card the request then replaces.
        expect(page.get_by_role("button", name="Western").first).to_be_visible()
        settle(page)
        first = page.locator(FOR_YOU_CARDS).first
        key = next(c for c in (first.get_attribute("class") or "").split()
                   if c.startswith("st-key-cm-card-fy-"))
        card = page.locator(f".{key}")
        card.get_by_role("button", name="Not interested").click()
        expect(card.get_by_role("button", name="Undo")).to_be_visible()
        settle(page)

        nav(page, "Search")
        nav(page, "For you")
        expect(page.get_by_role("textbox", name="What are you in the mood for?")
               ).to_have_value(REQUEST)
        for chosen in ("Mixed", "Predicted stars"):
            expect(page.get_by_role("radio", name=chosen, checked=True)
                   .or_(page.get_by_role("button", name=chosen, pressed=True))).to_be_visible()
        expect(card.get_by_role("button", name="Undo")).to_be_visible()

        # The first action after the return keeps the list: the first card's Undo stays.
        second = page.locator(FOR_YOU_CARDS).nth(1)
        second.get_by_role("button", name="Not interested").click()
        expect(second.get_by_role("button", name="Undo")).to_be_visible()
        settle(page)
        expect(card.get_by_role("button", name="Undo")).to_be_visible()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_action_in_more_like_this_is_told_at_once(
    cinematch: CineMatchApp, browser: Any, viewport: dict[str, int]
) -> None:
    from playwright.sync_api import expect

    with signed_in(cinematch, browser, "/for_you", viewport) as page:
        page.locator(FOR_YOU_CARDS).first.get_by_role("button", name="More like this").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("button", name="Want to watch").first).to_be_visible()
        settle(page)
        page.wait_for_timeout(1500)  # the toasts of opening, if any, are not the one asked
        expect(page.locator(TOAST).filter(has_text="to your watchlist")).to_have_count(0)
        dialog.get_by_role("button", name="Want to watch").first.click()
        started = time.monotonic()
        expect(page.locator(TOAST).filter(has_text="to your watchlist")).to_be_visible(
            timeout=8000)
        assert time.monotonic() - started < 8


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_bad_resume_code_is_explained_under_the_form_then_gone(
    cinematch: CineMatchApp, browser: Any, viewport: dict[str, int]
) -> None:
    from playwright.sync_api import expect

    user_id, token = new_user(cinematch.api.url, {2571: 4.0})
    context, page = open_page(browser, viewport)
    try:
        page.goto(cinematch.ui.url)
        code = page.locator(".st-key-cm-resume-code input")
        code.wait_for(timeout=WAIT_MS)
        settle(page)
        code.fill(f"{user_id}:wrongtoken")
        page.get_by_role("button", name="Resume").click()
        error = page.get_by_role("alert").filter(has_text="resume code was not recognised")
        expect(error).to_be_in_viewport()
        text = error.inner_text()
        for jargon in ("POST", "token", "/sessions"):
            assert jargon not in text, f"{jargon!r} in {text!r}"
        resume_box = page.get_by_role("button", name="Resume").bounding_box()
        error_box = error.bounding_box()
        assert resume_box and error_box
        assert 0 <= error_box["y"] - (resume_box["y"] + resume_box["height"]) < 80, (
            "the error is not just under the Resume button")
        expect(page.locator(TOAST)).to_have_count(0)

        code.fill(f"{user_id}:{token}")
        page.get_by_role("button", name="Resume").click()
        expect(page.get_by_text("Rate films you have seen", exact=True)).to_be_visible()
        settle(page)
        expect(page.get_by_text("not recognised")).to_have_count(0)
        expect(page.locator(TOAST)).to_have_count(0)
    finally:
        context.close()


def test_not_interested_right_after_coming_back_keeps_the_list(
    cinematch: CineMatchApp, browser: Any
) -> None:
    """Leave For you for Profile and come back at once (Profile's run cut short), then hide
    a card straight away: every card hidden so far keeps its seat and its Undo, each time."""
    from playwright.sync_api import expect

    with signed_in(cinematch, browser, "/for_you") as page:
        cards = page.locator(FOR_YOU_CARDS)
        expect(cards.first).to_be_visible()
        settle(page)
        page.get_by_text("Mixed", exact=True).first.click()
        settle(page)
        for trial in range(3):
            before = cards.nth(2 * trial)
            before.get_by_role("button", name="Not interested").click()
            expect(before.get_by_role("button", name="Undo")).to_be_visible()
            settle(page)
            page.locator('[data-testid="stTopNavLink"]', has_text="Profile").first.click()
            page.wait_for_timeout(300 + 200 * trial)
            page.locator('[data-testid="stTopNavLink"]', has_text="For you").first.click()
            cards.nth(2 * trial + 1).get_by_role("button", name="Not interested").click()
            settle(page)
            page.wait_for_timeout(1500)
            settle(page)
            expect(page.locator(FOR_YOU_CARDS).get_by_role("button", name="Undo")
                   ).to_have_count(2 * (trial + 1))
