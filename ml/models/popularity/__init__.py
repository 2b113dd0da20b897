"""Popularity, the newcomers' list and the baseline every ranker must beat."""

from ml.models.popularity.model import Popularity, PopularityParams

__all__ = ["Popularity", "PopularityParams"]
