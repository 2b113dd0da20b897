"""MovieLens data, one job per module: ``formats`` (any release folder into one ``Dataset``, and
the one ratings reader), ``merge`` (several releases as one), ``app`` (the service's own
ratings), ``download`` (the official zips), ``split`` and ``cli`` (``python -m ml.data``).
Errors name the file and line (``DataFormatError("ml-32m/ratings.csv:123: ...")``).
"""

from ml.data.app import (
    APP_SOURCE,
    AppRatingsError,
    add_app_ratings,
    app_user_ids,
    fetch_app_ratings,
)
from ml.data.download import KNOWN_MD5, MIRROR_ENV, DownloadError, download
from ml.data.formats import (
    DataFormatError,
    Dataset,
    detect_format,
    load_dataset,
    parse_title,
    read_ratings_file,
)
from ml.data.merge import describe_sources, merge_datasets, sha256_file

__all__ = [
    "APP_SOURCE", "KNOWN_MD5", "MIRROR_ENV", "AppRatingsError", "DataFormatError", "Dataset",
    "DownloadError", "add_app_ratings", "app_user_ids", "describe_sources", "detect_format",
    "download", "fetch_app_ratings", "load_dataset", "merge_datasets", "parse_title",
    "read_ratings_file", "sha256_file",
]
