"""iALS, the model that orders personal lists: the class, its fold-in and its training."""

from ml.models.ials.model import IALS, ImplicitParams

__all__ = ["IALS", "ImplicitParams"]
