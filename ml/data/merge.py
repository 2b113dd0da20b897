"""Several releases as one training set, and the provenance a manifest records.

``merge_datasets`` namespaces users per release and unions the catalogues; ``describe_sources``
lists every file a training read, with its row count and sha256, so a model can say exactly
what it was trained on.
"""

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from ml.data.formats import (
    RATINGS_COLUMNS,
    Dataset,
    _csv_file,
    _find_layout,
    _typed_movies,
)

#: Merged user ids are ``source_index * USER_ID_STRIDE + user_id``; no release has 10**9 users.
USER_ID_STRIDE: Final = 10**9

_CHUNK_BYTES: Final = 1 << 20


def merge_datasets(datasets: Sequence[Dataset]) -> Dataset:
    """Combine releases into one training set.

    Each source's user ids are offset by ``index * USER_ID_STRIDE`` and a categorical ``source``
    names the release. Catalogues are unioned on ``movie_id``: the last dataset with a title,
    genres or year wins (pass the newest last); TMDB and IMDb ids are kept from any. Raises
    ``ValueError`` for different id spaces or clashing names.
    """
    if not datasets:
        raise ValueError("merge_datasets needs at least one dataset")
    spaces = {d.movie_id_space for d in datasets}
    if len(spaces) > 1:
        described = ", ".join(f"{d.name} ({d.movie_id_space} ids)" for d in datasets)
        raise ValueError(
            f"cannot merge {described}: ml-100k numbers movies differently from the other releases"
        )
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ValueError(f"cannot merge datasets with the same name: {', '.join(names)}")
    sources = pd.CategoricalDtype(names)
    parts = []
    for index, dataset in enumerate(datasets):
        ratings = dataset.ratings
        if "source" in ratings.columns:
            raise ValueError(f"{dataset.name} is already merged; merge the releases in one call")
        if len(ratings) and int(ratings["user_id"].max()) >= USER_ID_STRIDE:
            raise ValueError(f"{dataset.name} has user ids of {USER_ID_STRIDE} or more")
        part = ratings.loc[:, list(RATINGS_COLUMNS)]
        part["user_id"] = part["user_id"] + index * USER_ID_STRIDE
        part["source"] = pd.Categorical.from_codes(np.full(len(part), index), dtype=sources)
        parts.append(part)
    ratings = pd.concat(parts, ignore_index=True)
    # groupby().last() takes each column's last non-null value: later titles win, and an id
    # known to any release survives.
    stacked = pd.concat([d.movies for d in datasets], ignore_index=True)
    movies = stacked.groupby("movie_id", sort=True).last().reset_index()
    return Dataset("+".join(names), ratings, _typed_movies(movies), datasets[0].movie_id_space)


# --- provenance ----------------------------------------------------------------------------


def _digest_and_rows(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    rows = 0
    with path.open("rb") as handle:
        for line in handle:
            digest.update(line)
            if line.strip(b" \r\n"):
                rows += 1
    return digest.hexdigest(), rows


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks, so a manifest can pin the exact data trained on."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def describe_sources(
    dataset_paths: Sequence[str | Path], links: str | Path | None = None
) -> list[dict[str, str | int]]:
    """List every file ``load_dataset`` reads for these folders (and ``links``), for a manifest.

    Each entry is ``{"path": "ml-1m/movies.dat", "rows": 3883, "sha256": ...}``; ``rows``
    counts non-blank lines after the header, which is the number of ratings for a ratings file.
    """
    files = [f for p in dataset_paths for f in _find_layout(Path(p)).files()]
    if links is not None:
        files.append(_csv_file(Path(links)))
    described: list[dict[str, str | int]] = []
    seen: set[Path] = set()
    for f in files:
        resolved = f.path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        digest, rows = _digest_and_rows(f.path)
        described.append({"path": f.label, "rows": rows - int(f.header), "sha256": digest})
    return described
