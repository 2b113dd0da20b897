"""The account panels: import ratings, export them, save the profile, sign in, log out, delete.

Each panel is self-contained (its widgets have ``cm-acc-*`` keys), so Welcome, Onboarding and
Profile show the same controls. An import is previewed with dry runs, in slices so the progress
bar moves; the import itself is one request and one transaction on the server.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
from collections.abc import Callable

import streamlit as st

from contract import models as wire
from ui import api_client, components, routes, session
from ui.api_client import ApiError, Credentials, ImportResult
from ui.settings import read_setting

#: Rows per previewed slice: each slice is one request of the user's write allowance.
PREVIEW_SLICE_ROWS = 5000
MIN_PASSWORD_CHARS = 10
#: The API's largest import, as the API reads it (``CINEMATCH_IMPORT_MAX_BYTES``, 5 MiB).
DEFAULT_IMPORT_MAX_BYTES = 5 * 1024 * 1024
#: The offer made where people first rate (landing page, deck) and the import panel's title.
IMPORT_OFFER = "Have a Letterboxd or IMDb history? Import it instead."

#: API source → (label, how to get the file).
SOURCES: dict[str, tuple[str, str]] = {
    "letterboxd": ("Letterboxd", "On letterboxd.com: Settings → Data → **Export your data**. "
                   "Unzip it and upload `ratings.csv`. Films are matched by title and year; "
                   "anything we cannot be sure of is listed, never guessed."),
    "imdb": ("IMDb", "On imdb.com: Your ratings → ⋮ → **Export**. Upload the CSV it e-mails or "
             "downloads. IMDb's 1–10 becomes ½–5 stars; TV series and episodes are skipped."),
    "movielens": ("MovieLens", "On movielens.org: Profile → **Export your data**, then upload "
                  "`ratings.csv`."),
    "cinematch": ("CineMatch", "A file from **Export my ratings** on your CineMatch profile "
                  "(another account or device)."),
}
_PREVIEW_KEY = "cm-acc-import-preview"
_LOGOUT_ASKED_KEY = "cm-acc-logout-asked"
_EXPORT_KEY = "cm-acc-export-data"
_IMPORTED_KEY = "cm-acc-imported"
#: The deck's import panel: "asked" by the landing page's offer, "open" for the visit after.
OPEN_IMPORT_KEY = "cm-onboarding-open-import"
#: Bumped after an import so the uploader starts empty (and its Import button goes away).
_UPLOADS_KEY = "cm-acc-import-uploads"
#: Prefix of the key holding a form's refusal, shown once, under that form.
_FORM_ERROR_PREFIX = "cm-acc-error-"
USERNAME_RULE = ("A username is 3 to 32 letters, digits, dots, dashes or underscores, "
                 "starting with a letter or digit.")


def import_max_bytes() -> int:
    """The largest file the API imports: the same setting it reads, so the two agree."""
    try:
        limit = int(read_setting("CINEMATCH_IMPORT_MAX_BYTES") or DEFAULT_IMPORT_MAX_BYTES)
    except ValueError:
        limit = DEFAULT_IMPORT_MAX_BYTES
    return max(1024, min(limit, DEFAULT_IMPORT_MAX_BYTES))


def size_label(size: int) -> str:
    """5242880 → "5 MB", 1572864 → "1.5 MB" (MB as Streamlit counts them, 2**20 bytes)."""
    mb = size / (1024 * 1024)
    return f"{mb:.0f} MB" if mb.is_integer() else f"{mb:.1f} MB"


# -- import -----------------------------------------------------------------------------------


def csv_slices(data: bytes, rows_per_slice: int = PREVIEW_SLICE_ROWS) -> list[bytes]:
    """``data`` cut into CSV files of at most ``rows_per_slice`` rows, each with the header;
    a file that is not readable CSV is sent whole, for the API to say what is wrong with it."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error):
        return [data]
    if len(rows) <= rows_per_slice + 1:
        return [data]
    header, body = rows[0], rows[1:]
    slices = []
    for start in range(0, len(body), rows_per_slice):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body[start : start + rows_per_slice])
        slices.append(out.getvalue().encode())
    return slices


def merge_previews(parts: list[ImportResult]) -> ImportResult:
    """The slices' dry runs read as one."""
    first = parts[0]
    return ImportResult(
        source=first.source,
        rows=sum(p.rows for p in parts),
        matched=[m for p in parts for m in p.matched],
        unmatched=[u for p in parts for u in p.unmatched],
        saved=sum(p.saved for p in parts),
        unchanged=sum(p.unchanged for p in parts),
        listed=sum(p.listed for p in parts),
        dry_run=True,
    )


def preview(
    creds: Credentials,
    filename: str,
    data: bytes,
    source: str,
    on_progress: Callable[[float, str], object],
) -> ImportResult:
    """Dry-run ``data`` slice by slice, reporting progress; raises ``ApiError``."""
    slices = csv_slices(data, PREVIEW_SLICE_ROWS)
    parts = []
    for done, piece in enumerate(slices, start=1):
        parts.append(api_client.get_client().import_ratings(creds, filename, piece,
                                                            source=source, dry_run=True))
        on_progress(done / len(slices), f"Checked {done} of {len(slices)} parts of the file")
    return merge_previews(parts)


def import_panel(
    creds: Credentials, *, expanded: bool = False, label: str = "Import your ratings"
) -> None:
    """"Import your ratings": pick the site, upload, preview (dry run), then import.

    After an import the page runs again at once, so every number on it (films rated, the
    history, the progress) already counts the imported ratings."""
    imported = st.session_state.pop(_IMPORTED_KEY, None)
    with st.expander(label, icon=":material/upload_file:", expanded=expanded or bool(imported)):
        if imported:
            st.success(imported, icon=":material/download_done:")
        source = st.radio(
            "Where are your ratings?",
            list(SOURCES),
            format_func=lambda name: SOURCES[name][0],
            horizontal=True,
            key="cm-acc-import-source",
        )
        st.markdown(SOURCES[source][1])
        limit = import_max_bytes()
        upload = st.file_uploader(
            f"Your export (CSV, up to {size_label(limit)})",
            type=["csv"],
            key=f"cm-acc-import-file-{st.session_state.get(_UPLOADS_KEY, 0)}",
            max_upload_size=max(1, math.ceil(limit / (1024 * 1024))),
        )
        if upload is None:
            st.session_state.pop(_PREVIEW_KEY, None)
            return
        data = upload.getvalue()
        if st.button("Preview", key="cm-acc-import-preview-btn", icon=":material/preview:"):
            bar = st.progress(0.0, text="Reading your file…")
            try:
                result = preview(creds, upload.name, data, source, bar.progress)
            except ApiError as err:
                bar.empty()
                st.error(f"We couldn't read that file. {err.message}")
                st.session_state.pop(_PREVIEW_KEY, None)
                return
            bar.empty()
            st.session_state[_PREVIEW_KEY] = (upload.name, upload.size, result)
        shown = st.session_state.get(_PREVIEW_KEY)
        if shown is None or shown[:2] != (upload.name, upload.size):
            return
        result = shown[2]
        _show_preview(result)
        if (result.saved or result.listed) and st.button(
            f"Import {result.saved} ratings" if result.saved else f"Import {result.listed} films",
            type="primary",
            key="cm-acc-import-go",
            icon=":material/download_done:",
        ):
            with st.spinner("Importing…"):
                try:
                    done = api_client.get_client().import_ratings(
                        creds, upload.name, data, source=source, dry_run=False
                    )
                except ApiError as err:
                    st.error(f"Nothing was imported. {err.message}")
                    return
            st.session_state.pop(_PREVIEW_KEY, None)
            st.session_state[_UPLOADS_KEY] = st.session_state.get(_UPLOADS_KEY, 0) + 1
            lists = f" and put back {done.listed} listed films" if done.listed else ""
            st.session_state[_IMPORTED_KEY] = (
                f"Imported {done.saved} ratings{lists} from {SOURCES[done.source][0]}.")
            st.rerun()


def _show_preview(result: ImportResult) -> None:
    found, missing, new = st.columns(3)
    found.metric("Films found", len(result.matched))
    missing.metric("Not imported", len(result.unmatched))
    new.metric("New or newer", result.saved)
    if result.unchanged:
        noun = "film is" if result.unchanged == 1 else "films are"
        st.caption(f"{result.unchanged} {noun} already rated here with the same or a newer "
                   "rating; those are kept as they are.")
    if result.listed:
        noun = "film goes" if result.listed == 1 else "films go"
        st.caption(f"{result.listed} {noun} back on your watchlist or Not interested list.")
    if result.unmatched:
        st.markdown("**Not imported, and why**")
        # A plain table: its text is on the page (readable by screen readers and the browser
        # test), unlike the canvas-drawn st.dataframe.
        st.table(
            {
                "Title": [row.title for row in result.unmatched],
                "Year": ["" if row.year is None else str(row.year) for row in result.unmatched],
                "Why": [row.reason for row in result.unmatched],
            },
            hide_index=True,
        )
    if result.matched:
        with st.popover("Films found", icon=":material/list:"):
            st.dataframe(
                {
                    "Title": [row.title for row in result.matched],
                    "Year": [row.year for row in result.matched],
                    "Stars": [row.rating for row in result.matched],
                },
                hide_index=True,
            )


# -- export -----------------------------------------------------------------------------------


def export_panel(creds: Credentials) -> None:
    """Fetch the export on request, then offer it as a download."""
    if st.button("Export my ratings", key="cm-acc-export", icon=":material/download:"):
        with components.api_guard():
            st.session_state[_EXPORT_KEY] = api_client.get_client().export_ratings(creds)
    data = st.session_state.get(_EXPORT_KEY)
    if data is not None:
        st.download_button(
            "Download cinematch-ratings.csv",
            data,
            file_name="cinematch-ratings.csv",
            mime="text/csv",
            key="cm-acc-export-download",
            icon=":material/file_download:",
        )


# -- form errors ---------------------------------------------------------------------------------


def form_error(form: str, message: str) -> None:
    """Refuse a form's submission from its callback: ``message`` shows under the form on
    this run, next to what the person typed, and is gone on the run after."""
    st.session_state[f"{_FORM_ERROR_PREFIX}{form}"] = message


def show_form_error(form: str) -> None:
    """The form's refusal, if its last submission was refused, under the form (once)."""
    message = st.session_state.pop(f"{_FORM_ERROR_PREFIX}{form}", None)
    if message:
        st.error(message, icon=":material/error:")


def plain_reason(err: ApiError) -> str:
    """Why the API refused a sign-in or a save, in the person's words, not the API's."""
    if err.kind == "auth":
        return "Your session has ended: sign in again, or start a new profile."
    if err.status == 409:
        return "That username is taken: choose another."
    if err.status == 422:
        return "Check the username and the password, and try again."
    return err.message


# -- saving the profile with a password ----------------------------------------------------------


def save_profile_form(creds: Credentials, username: str | None) -> None:
    """"Save my profile": choose (or change) a username and password."""
    title = "Change your sign-in" if username else "Save my profile"
    with st.form("cm-acc-save", border=True):
        st.markdown(f"**{title}**")
        st.caption(
            "Choose a username and a password (10 characters or more) to sign in on any "
            "device. No e-mail needed."
        )
        st.text_input("Username", value=username or "", key="cm-acc-username", max_chars=32)
        st.text_input("Password", type="password", key="cm-acc-password")
        st.form_submit_button(
            "Save", icon=":material/lock:", on_click=_save_profile, args=(creds,)
        )
        show_form_error("save")


def _save_profile(creds: Credentials) -> None:
    name = st.session_state.get("cm-acc-username", "").strip()
    password = st.session_state.get("cm-acc-password", "")
    if not re.fullmatch(wire.USERNAME_PATTERN, name):  # the API's rule, checked first
        form_error("save", USERNAME_RULE)
        return
    if len(password) < MIN_PASSWORD_CHARS:
        form_error("save", f"Use a password of at least {MIN_PASSWORD_CHARS} characters.")
        return
    try:
        saved = api_client.get_client().set_credentials(creds, name, password)
    except ApiError as err:
        form_error("save", f"We couldn't save your profile. {plain_reason(err)}")
        return
    st.session_state["cm-acc-password"] = ""
    components.flash(f"Saved. Sign in as {saved} on any device.")


def sign_in_form() -> None:
    """Username and password → a new token for this device (Welcome page)."""
    with st.form("cm-acc-signin", border=False):
        st.text_input("Username", key="cm-acc-signin-username")
        st.text_input("Password", type="password", key="cm-acc-signin-password")
        st.form_submit_button("Sign in", icon=":material/login:", on_click=_sign_in)
    show_form_error("signin")


def _sign_in() -> None:
    name = st.session_state.get("cm-acc-signin-username", "").strip()
    password = st.session_state.get("cm-acc-signin-password", "")
    if not name or not password:
        form_error("signin", "Enter your username and your password.")
        return
    try:
        creds = api_client.get_client().sign_in(name, password)
    except ApiError as err:
        form_error("signin", f"We couldn't sign you in. {plain_reason(err)}")
        return
    session.sign_in(creds, then_open=routes.FOR_YOU)


# -- resume code, logging out, deleting ------------------------------------------------------------


def session_panel(creds: Credentials, username: str | None) -> None:
    """The resume code with a copy button, log out (asking first when there is no password),
    and deleting the account (asking first, always)."""
    st.subheader("Your session")
    if username:
        st.caption(f"Signed in as **{username}**. You can also resume with this code:")
    else:
        st.caption(
            "There is no password yet: on another device, paste this resume code on the "
            "Welcome page, or save your profile with a username and password."
        )
    st.code(session.resume_code(creds), language=None, wrap_lines=True)
    if st.session_state.get(_LOGOUT_ASKED_KEY):
        st.warning(
            "This profile has no password. Save your code or set a password first: "
            "once logged out, the code is the only way back."
        )
        keep, leave = st.columns(2)
        keep.button(
            "Stay signed in",
            key="cm-acc-logout-cancel",
            on_click=_ask,
            args=(_LOGOUT_ASKED_KEY, False),
        )
        leave.button(
            "Log out anyway",
            key="cm-acc-logout-confirm",
            on_click=log_out,
            args=(creds, False),
        )
    else:
        st.button(
            "Log out",
            key="cm-logout",
            icon=":material/logout:",
            on_click=log_out if username else _ask,
            args=(creds, True) if username else (_LOGOUT_ASKED_KEY, True),
            help="Forget this session in this browser (your ratings stay saved).",
        )
    st.space("small")
    delete_panel(creds)


def _ask(key: str, value: bool) -> None:
    st.session_state[key] = value


def log_out(creds: Credentials, revoke: bool) -> None:
    """Forget the session in this browser; with a password set, also revoke this device's
    token (signing in again makes a new one). Without a password the token is kept alive:
    the resume code is the only way back."""
    if revoke:
        with contextlib.suppress(ApiError):  # already gone: this browser forgets it anyway
            api_client.get_client().sign_out(creds)
    session.sign_out()


def delete_panel(creds: Credentials) -> None:
    with st.expander("Delete my account", icon=":material/delete_forever:"):
        st.caption(
            "Deletes your ratings, sign-in and everything else we hold about you, for good. "
            "Export your ratings first if you may want them back."
        )
        sure = st.checkbox("I understand this cannot be undone", key="cm-acc-delete-sure")
        st.button(
            "Delete my account",
            key="cm-acc-delete",
            type="primary",
            disabled=not sure,
            on_click=_delete,
            args=(creds,),
        )


def _delete(creds: Credentials) -> None:
    try:
        api_client.get_client().delete_account(creds)
    except ApiError as err:
        components.flash_error(f"We couldn't delete your account. {err.message}")
        return
    session.sign_out()
    components.flash("Your account and everything in it are deleted.")


def username_of(creds: Credentials) -> str | None:
    """The account's username (None without a password); None too if the API cannot say."""
    try:
        return api_client.get_client().username(creds)
    except ApiError:
        return None
