"""Training jobs: ``train``, ``promote``, ``evaluate`` and ``simulate_onboarding`` (each
``python -m ml.training.X``) and ``spark_train``; ``pipeline`` (``fit_artifact``), ``metrics``,
``kernels`` (numba) and ``cli`` are what they share.
"""
