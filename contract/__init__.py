"""Wire contract of the CineMatch HTTP API: pydantic models shared by the API and the UI."""
