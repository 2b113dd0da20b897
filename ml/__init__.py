"""CineMatch's recommendation core: numpy/pandas only, no web code."""
