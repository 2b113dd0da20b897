"""Welcome: the hero, "Start" (a new profile via POST /users) and "Resume" a saved session."""

from __future__ import annotations

import streamlit as st

from ui import account, api_client, components, routes, session
from ui.api_client import ApiError

HERO = (
    '<section class="cm-hero">'
    '<p class="cm-eyebrow">Tonight at CineMatch</p>'
    '<h1 class="cm-hero-title">Your next favourite film<br>is already showing.</h1>'
    "<p>Rate five films you have seen. We learn your taste and set a private screening "
    "list: the films you are most likely to love, each with a reason.</p>"
    '<div class="cm-steps"><span><b>I</b>Rate five films</span>'
    "<span><b>II</b>Get a personal list</span><span><b>III</b>Keep rating, keep refining"
    "</span></div></section>"
)
#: A resume code is "<number>:<letters>", as the profile page shows it.
NOT_A_CODE = ("That isn't a resume code. Copy the whole code from your profile page: a number, "
              "a colon, then letters and digits (like 42:Xy7…).")
NOT_RECOGNISED = ("That resume code was not recognised. Check that it was copied whole; if "
                  "you logged out or deleted the profile, the code no longer works.")


def start(with_import: bool = False) -> None:
    """Create a profile and open onboarding (runs as the Start button's callback); with
    ``with_import``, its import panel opens too."""
    try:
        creds = api_client.get_client().create_user()
    except ApiError as err:
        components.flash_error(f"We couldn't create your profile. {err.message}")
        return
    session.sign_in(creds, then_open=routes.ONBOARDING)
    if with_import:
        st.session_state[account.OPEN_IMPORT_KEY] = "asked"


def resume_with_code() -> None:
    """Sign in with a pasted resume code, after checking it with the API."""
    code = st.session_state.get("cm-resume-code", "")
    creds = session.parse_resume_code(code)
    if creds is None:
        account.form_error("resume", NOT_A_CODE)
        return
    try:
        stats = api_client.get_client().user_stats(creds)
    except ApiError as err:
        account.form_error("resume", NOT_RECOGNISED if err.kind == "auth"
                           else f"We couldn't resume your session. {err.message}")
        return
    target = routes.FOR_YOU if stats.ratings_needed == 0 else routes.ONBOARDING
    session.sign_in(creds, then_open=target)


st.markdown(HERO, unsafe_allow_html=True)
st.space("medium")

creds = session.current_credentials()
if creds is None:
    left, right = st.columns([1, 1], gap="large")
    with left:
        st.subheader("First time here?")
        st.caption("No e-mail, no password: a private profile is created for you.")
        st.button(
            "Start", type="primary", icon=":material/play_arrow:", on_click=start, key="cm-start"
        )
        st.button(
            account.IMPORT_OFFER,
            icon=":material/upload_file:",
            on_click=start,
            args=(True,),
            key="cm-start-import",
            type="tertiary",
        )
    with right:
        st.subheader("Resume")
        st.caption(
            "Bookmarked your CineMatch address? Opening it resumes where you left off. "
            "Or paste the resume code from your profile."
        )
        with st.form("cm-resume", border=False):
            st.text_input(
                "Resume code", key="cm-resume-code", placeholder="42:Xy7…", type="password"
            )
            st.form_submit_button("Resume", icon=":material/replay:", on_click=resume_with_code)
        account.show_form_error("resume")
        st.caption("Saved your profile with a username and password? Sign in:")
        account.sign_in_form()
else:
    with components.api_guard():
        stats = api_client.get_client().user_stats(creds)
    st.subheader("Welcome back")
    if stats.ratings_needed > 0:
        st.write(
            f"You have rated {stats.total_ratings} films. "
            f"Rate {stats.ratings_needed} more and your list becomes personal."
        )
        target, label = routes.ONBOARDING, "Resume rating"
    else:
        st.write(f"You have rated {stats.total_ratings} films and your personal list is ready.")
        target, label = routes.FOR_YOU, "Resume: my recommendations"
    components.link_to(target, label, ":material/arrow_forward:")
    st.space("small")
    st.caption("Rated films elsewhere? Bring them: your first list is only as good as them.")
    account.import_panel(creds, expanded=stats.total_ratings == 0)
