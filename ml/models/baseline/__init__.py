"""The damped bias baseline, the rating floor."""

from ml.models.baseline.model import BaselineParams, BiasBaseline

__all__ = ["BaselineParams", "BiasBaseline"]
