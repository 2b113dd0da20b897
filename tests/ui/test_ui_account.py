"""AppTest for the account controls (ui/account.py): import with preview, export, saving the
profile, signing in with a password, the resume code, logging out and deleting the account."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import AppFactory
from tests.ui.real_api import RealApi
from ui import account, routes
from ui.api_client import Credentials

LETTERBOXD = (
    b"Date,Name,Year,Letterboxd URI,Rating\n"
    b"2024-01-05,Action Film 3,1982,u,4.5\n"
    b"2024-01-06,Romance Film 5,1984,u,4\n"
    b"2024-01-07,Parasite,2019,u,5\n"
)


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for e in (*at.markdown, *at.caption, *at.success, *at.error))


def open_profile(make_app: AppFactory, api: RealApi, ratings=None):
    user = api.add_user(ratings or {1: 4.0})
    return user, make_app(user=user, page=routes.PROFILE)


def test_import_previews_matches_and_reasons_then_imports(make_app, api) -> None:
    (user_id, _), at = open_profile(make_app, api, {201: 3.0})
    assert at.radio(key="cm-acc-import-source").value == "letterboxd"
    assert "Export your data" in texts(at)  # the site's instructions
    at.radio(key="cm-acc-import-source").set_value("imdb").run()
    assert "IMDb's 1–10" in texts(at)
    at.radio(key="cm-acc-import-source").set_value("letterboxd").run()
    at.file_uploader[0].set_value(("ratings.csv", LETTERBOXD, "text/csv")).run()
    at.button(key="cm-acc-import-preview-btn").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Films found"] == "2" and metrics["Not imported"] == "1"
    unmatched = at.table[0].value
    assert list(unmatched["Title"]) == ["Parasite"]
    assert list(unmatched["Why"]) == ["not in the catalogue"]
    assert api.ratings_of(user_id) == {201: 3.0}  # the preview wrote nothing
    dry_runs = api.calls_to(f"/users/{user_id}/import")
    assert dry_runs[-1]["dry_run"] == ["true"]
    at.button(key="cm-acc-import-go").click().run()
    assert api.ratings_of(user_id) == {201: 3.0, 3: 4.5, 105: 4.0}
    assert "Imported 2 ratings from Letterboxd" in texts(at)


def test_a_bad_file_shows_the_apis_reason(make_app, api) -> None:
    _, at = open_profile(make_app, api)
    at.file_uploader[0].set_value(("junk.csv", b"a,b\n1,2\n", "text/csv")).run()
    at.button(key="cm-acc-import-preview-btn").click().run()
    assert "not a Letterboxd export" in at.error[0].value  # the API's own words
    assert not at.button(key="cm-acc-import-preview-btn").disabled


def test_a_large_file_is_previewed_in_slices_with_progress(api, monkeypatch) -> None:
    big = (b"Date,Name,Year,Letterboxd URI,Rating\n"
           + b"2024-01-05,Romance Film 5,1984,u,4\n" * 2500)
    slices = account.csv_slices(big, rows_per_slice=1000)
    assert len(slices) == 3 and all(s.startswith(b"Date,Name") for s in slices)
    seen: list[float] = []
    user_id, token = api.add_user()
    monkeypatch.setattr(account, "PREVIEW_SLICE_ROWS", 1000)
    result = account.preview(
        Credentials(user_id, token), "big.csv", big, "letterboxd", lambda f, _t: seen.append(f)
    )
    assert seen == [1 / 3, 2 / 3, 1.0] and result.rows == 2500 and result.dry_run


def test_export_offers_the_csv_as_a_download(make_app, api) -> None:
    _, at = open_profile(make_app, api)
    at.button(key="cm-acc-export").click().run()
    download = at.get("download_button")
    assert download and "cinematch-ratings.csv" in str(download[0].proto.label)


def test_save_my_profile_then_sign_in_from_another_device(make_app, api) -> None:
    (user_id, _), at = open_profile(make_app, api)
    at.text_input(key="cm-acc-username").set_value("Ana.Film")
    at.text_input(key="cm-acc-password").set_value("short")
    at.button[_submit_index(at, "cm-acc-save")].click().run()
    assert "at least 10 characters" in at.error[0].value  # under the form, next to it
    assert not at.toast
    assert username(api, user_id) is None
    at.text_input(key="cm-acc-username").set_value("Ana.Film")
    at.text_input(key="cm-acc-password").set_value("correct horse battery")
    at.button[_submit_index(at, "cm-acc-save")].click().run()
    assert username(api, user_id) == "Ana.Film"
    # Another browser: Welcome, signed out, signs in with the password.
    other = AppTest.from_file(str(at._script_path), default_timeout=30)
    other.run()
    other.text_input(key="cm-acc-signin-username").set_value("ana.film")
    other.text_input(key="cm-acc-signin-password").set_value("correct horse battery")
    other.button[_submit_index(other, "cm-acc-signin")].click().run()
    assert other.query_params["uid"] == str(user_id)
    other_token = other.query_params["token"]
    assert other_token != api.tokens[user_id]  # a token of its own, which the API accepts
    assert api.ratings_of(user_id, other_token) == {1: 4.0}


def test_a_wrong_password_is_a_clear_error(make_app, api) -> None:
    at = make_app()
    at.text_input(key="cm-acc-signin-username").set_value("nobody")
    at.text_input(key="cm-acc-signin-password").set_value("whatever12345")
    at.button[_submit_index(at, "cm-acc-signin")].click().run()
    assert "username and password don't match" in at.error[0].value
    assert "no longer recognised" not in at.error[0].value and "uid" not in at.query_params
    assert not at.toast


def test_the_resume_code_has_a_copy_button(make_app, api) -> None:
    (user_id, token), at = open_profile(make_app, api)
    assert any(code.value == f"{user_id}:{token}" for code in at.code)  # st.code copies


def test_logging_out_with_a_password_revokes_the_token_without_asking(make_app, api) -> None:
    (user_id, token), at = open_profile(make_app, api)
    saved = api.client.put(f"/users/{user_id}/credentials", headers=api.auth(user_id),
                           json={"username": "ana", "password": "x" * 10})
    assert saved.status_code == 200, saved.text
    at.run()
    at.button(key="cm-logout").click().run()
    assert "uid" not in at.query_params
    assert api.client.get(f"/users/{user_id}/ratings", headers=api.auth(user_id, token)
                          ).status_code in (401, 403)  # the token is revoked
    assert any(call.path == "/sessions/current" for call in api.calls)


def test_staying_signed_in_after_the_question(make_app, api) -> None:
    _, at = open_profile(make_app, api)
    at.button(key="cm-logout").click().run()
    at.button(key="cm-acc-logout-cancel").click().run()
    assert not at.warning and "uid" in at.query_params


def test_deleting_the_account_needs_the_confirmation(make_app, api) -> None:
    (user_id, _), at = open_profile(make_app, api)
    assert at.button(key="cm-acc-delete").disabled
    at.checkbox(key="cm-acc-delete-sure").check().run()
    at.button(key="cm-acc-delete").click().run()
    gone = api.client.get(f"/users/{user_id}/ratings", headers=api.auth(user_id))
    assert gone.status_code in (401, 404) and "uid" not in at.query_params
    assert at.button(key="cm-start").label == "Start"


def test_after_the_unlock_onboarding_offers_to_save_the_profile(make_app, api) -> None:
    ratings = {1: 4.0, 2: 4.5, 3: 4.0, 4: 3.5, 5: 4.0}
    at = make_app(user=api.add_user(ratings), page=routes.ONBOARDING)
    assert at.text_input(key="cm-acc-username") is not None
    assert any("Save my profile" in e.label for e in at.expander)


def test_welcome_offers_the_import_step_to_a_signed_in_user(make_app, api) -> None:
    at = make_app(user=api.add_user())
    assert at.radio(key="cm-acc-import-source").value == "letterboxd"
    assert any(e.label == "Import your ratings" for e in at.expander)


def username(api: RealApi, user_id: int) -> str | None:
    """The account's username, as the API has it."""
    return api.get(f"/users/{user_id}/credentials", user_id)["username"]


def _submit_index(at: AppTest, form_key: str) -> int:
    """Index of the submit button of form ``form_key`` (form buttons have no own key)."""
    for i, button in enumerate(at.button):
        if button.proto.form_id == form_key:
            return i
    raise AssertionError(f"no submit button in form {form_key}")
