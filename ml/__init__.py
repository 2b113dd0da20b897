"""CineMatch's recommendation core: numpy/pandas only, no web or database code.

``ml.models`` (one class per model, and their contract), ``ml.serving`` (the ``Recommender``
the API holds), ``ml.text`` (titles, search, requests, imports), ``ml.data`` (MovieLens, the
service's ratings, splits), ``ml.training`` (train, evaluate, promote, Spark) and ``ml.rules``.
"""
