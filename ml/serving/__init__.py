"""Serving: the ``Recommender`` the API holds, and how a list is built from the models' scores
(``ranking``, ``reasons``, ``diversity``, ``discover``, ``constraints``, ``likeness``,
``onboarding``), the model directory (``artifacts``) and its versions (``model_store``).
"""
