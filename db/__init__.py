"""CineMatch's persistence layer: users, their hashed tokens and their ratings (SQLAlchemy 2.0)."""
