"""Training jobs: building, measuring and promoting the shipped model.

Commands: ``python -m ml.training.train`` (fit a model directory), ``python -m
ml.training.promote`` (the gate), ``python -m ml.training.evaluate``, ``python -m
ml.training.simulate_onboarding`` and ``spark-submit ml/training/spark_train.py``.
``pipeline`` is the library code they share (``fit_artifact``), ``metrics`` the figures,
``kernels`` the compiled (numba) loops of the ALS trainers, ``cli`` the CLIs' shared parts.
"""
