"""FunkSVD, the rating model: the class (``model``) and its trainer (``train``)."""

from ml.models.funksvd.model import FunkSVD, FunkSVDParams, UserVector

__all__ = ["FunkSVD", "FunkSVDParams", "UserVector"]
