"""Serving: the loaded model the API holds, and how a list is built from the models' scores.

``recommender`` (the one object the API holds), ``ranking`` (the blend of the models' scores,
top-N cuts), ``reasons``, ``diversity`` (franchise cap), ``discover``, ``constraints`` and
``likeness`` (plain-words requests), ``onboarding`` (the first films to rate), ``artifacts``
(the model directory on disk) and ``model_store`` (versions and the ``current`` link).
"""
