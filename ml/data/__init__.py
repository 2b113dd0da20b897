"""MovieLens data, one job per module.

- ``ml.data.formats``: read any release folder (ml-100k, ml-1m, ml-latest-small, ml-25m, ml-32m)
  into one ``Dataset`` shape, and loose rating files through the one ratings reader;
- ``ml.data.merge``: several releases as one training set, and the provenance of every file;
- ``ml.data.app``: the service's own ratings (the ``db`` export, read in a child process) as
  one more source, its users namespaced apart from MovieLens users;
- ``ml.data.download``: the official zips, with checksum and progress;
- ``ml.data.split``: train/test and train/validation splits of a ratings table;
- ``python -m ml.data download ml-32m --to DIR`` / ``info PATH`` (``ml.data.cli``).

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
    "APP_SOURCE",
    "KNOWN_MD5",
    "MIRROR_ENV",
    "AppRatingsError",
    "DataFormatError",
    "Dataset",
    "DownloadError",
    "add_app_ratings",
    "app_user_ids",
    "describe_sources",
    "detect_format",
    "download",
    "fetch_app_ratings",
    "load_dataset",
    "merge_datasets",
    "parse_title",
    "read_ratings_file",
    "sha256_file",
]
