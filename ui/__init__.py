"""CineMatch's Streamlit front end: pages, the HTTP client for the API, posters and theme.

Nothing in this package imports ``ml``, ``api`` or ``db``; it learns everything over HTTP.
"""
