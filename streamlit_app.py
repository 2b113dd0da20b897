"""CineMatch's Streamlit entry point: page config, theme, session, navigation.

Run with ``streamlit run streamlit_app.py``. The pages under ``ui/pages/`` hold UI only; they
reach the API through ``ui.api_client.get_client()`` and never import ml/, api/ or db/.
"""

from __future__ import annotations

import streamlit as st

from ui import components, routes, session

st.set_page_config(
    page_title="CineMatch",
    page_icon="🎬",
    layout="wide",
    initial_sidebar_state="collapsed",
)
components.inject_theme()

creds = session.sync_credentials()

pages = [st.Page(routes.WELCOME, title="Welcome", icon=":material/theaters:", default=True)]
if creds is not None:
    pages += [
        st.Page(routes.ONBOARDING, title="Rate films", icon=":material/star_half:"),
        st.Page(routes.FOR_YOU, title="For you", icon=":material/auto_awesome:"),
        st.Page(routes.SEARCH, title="Search", icon=":material/search:"),
        st.Page(routes.WATCHLIST, title="Watchlist", icon=":material/bookmarks:"),
        st.Page(routes.PROFILE, title="Profile", icon=":material/person:"),
    ]
pages.append(st.Page(routes.ABOUT_MODEL, title="About the model", icon=":material/insights:"))

current = st.navigation(pages, position="top")

if (target := session.pop_redirect()) is not None:
    st.switch_page(target, query_params=session.query_params_for(creds) if creds else None)

components.show_flash()
session.note_page(current.title)
components.close_menu_on_phones(session.just_arrived())
current.run()
