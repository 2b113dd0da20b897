"""CineMatch's recommendation core: numpy/pandas only, no web or database code.

One folder per job:

- ``ml.models``: the models, one class each (FunkSVD, iALS, EASE, popularity, bias baseline),
  and the contract they keep (``ml.models.contract``);
- ``ml.serving``: the ``Recommender`` the API holds and how a list is built from the models;
- ``ml.text``: titles, search, plain-words requests, other sites' rating exports;
- ``ml.data``: MovieLens releases, the service's own ratings, splits;
- ``ml.training``: training, evaluation, the promotion gate, the Spark trainer;
- ``ml.rules``: the product's rules, read by every layer.
"""
