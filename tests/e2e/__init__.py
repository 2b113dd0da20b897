"""End-to-end tests: the real API and the real Streamlit app, driven by a real browser."""
