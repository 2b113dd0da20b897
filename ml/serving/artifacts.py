"""The shipped model on disk: one format, written atomically, checked on load.

A model directory holds:
- ``factors.npz``: plain arrays (loaded with ``allow_pickle=False``): each model's
  ``arrays()`` (FunkSVD's unprefixed, iALS's prefixed ``implicit_``, EASE's ``item_item_``),
  the id maps, the popularity counts and means, and the reasons' ``neighbour_edges``;
- ``catalogue.csv``: movie_id, title, year, genres (``|``-joined), tmdb_id, imdb_id, in item order;
- ``manifest.json``: format version, data sources, hyper-parameters, metrics, the sha256 and
  shape of every array and file, ``app_ratings`` (``AppRatings``) and ``gate_holdout``
  (``GateHoldout``);
- ``holdout.npz`` (optional): the promote gate's held-out ratings. Never commit it.
Loading verifies all of it and fails with one line naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ml.models import EASE, IALS, FunkSVD, Popularity, PopularityParams
from ml.models.matrix import IdMap
from ml.serving.ranking import RankingWeights

#: 2: the ranking model (``implicit_*`` arrays) joined the rating model. 3: the item-item
#: term's films are 16-bit head positions and its weights float16 (``SparseEase.arrays``).
FORMAT_VERSION = 3
#: Versions this code reads: a format-2 model's item-item arrays (catalogue indices, float32
#: weights) load as they were written and serve the same lists.
READABLE_VERSIONS = (2, 3)
FACTORS_FILE = "factors.npz"
CATALOGUE_FILE = "catalogue.csv"
MANIFEST_FILE = "manifest.json"
CATALOGUE_COLUMNS = ("movie_id", "title", "year", "genres", "tmdb_id", "imdb_id")
HOLDOUT_FILE = "holdout.npz"
#: Prefix of the ranking model's arrays in ``factors.npz``.
IMPLICIT_PREFIX = "implicit_"
#: Prefix of the ranking's item-item term (``ml.models.ease.sparse``); absent in older models.
ITEM_ITEM_PREFIX = "item_item_"
#: Each film's neighbourhood edge for reasons and its neighbour count (optional arrays).
NEIGHBOUR_EDGES, NEIGHBOUR_EDGES_K = "neighbour_edges", "neighbour_edges_k"
#: The popular chart's counts and means, present only when they differ from the popularity
#: arrays (a model trained with the service's ratings).
CHART_COUNTS, CHART_MEANS = "chart_counts", "chart_means"


#: Manifest key of the service's own ratings a model learnt from (``AppRatings.as_json``).
APP_RATINGS_KEY = "app_ratings"
#: Manifest key of the users held out for the promote gate (``GateHoldout.rule``).
GATE_HOLDOUT_KEY = "gate_holdout"


class ArtifactError(RuntimeError):
    """A model directory is missing, truncated or inconsistent; the message is one line."""


@dataclass(frozen=True)
class CatalogueEntry:
    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    tmdb_id: int | None
    imdb_id: str | None


@dataclass(frozen=True)
class AppRatings:
    """The service's own ratings a training used: the receipt of one consistent read, written
    by ``python -m db.app_ratings export`` and copied into the manifest (``APP_RATINGS_KEY``);
    ``sha256`` hashes every kept (user, film, rating) in key order.
    """

    n_ratings: int
    n_users: int
    #: Users who had ratings but fewer than ``min_ratings`` of them (on known films).
    n_users_left_out: int
    min_ratings: int
    #: When the snapshot was taken (ISO 8601, UTC).
    read_at: str
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> AppRatings:
        """Parse a receipt; ``ValueError`` naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("app ratings receipt is not a JSON object")
        try:
            return cls(n_ratings=int(data["n_ratings"]), n_users=int(data["n_users"]),
                       n_users_left_out=int(data["n_users_left_out"]),
                       min_ratings=int(data["min_ratings"]), read_at=str(data["read_at"]),
                       sha256=str(data["sha256"]))
        except KeyError as missing:
            raise ValueError(f"app ratings receipt lacks {missing}") from None
        except (TypeError, ValueError) as error:
            raise ValueError(f"app ratings receipt is malformed ({error})") from None


def app_ratings_of(manifest: dict[str, Any]) -> AppRatings | None:
    """The app ratings a model's manifest records, or None (MovieLens alone: the shipped model)."""
    data = manifest.get(APP_RATINGS_KEY)
    return None if data is None else AppRatings.from_json(data)


@dataclass(frozen=True)
class GateHoldout:
    """Users no model of a deployment trains on, and their ratings, for the promote gate.
    ``users_fraction`` and ``salt`` are the rule (``ml.data.split.hashed_users_holdout``): two
    trainings with equal ``rule``s never saw them.
    """

    users_fraction: float
    salt: int
    user_ids: npt.NDArray[np.int64]
    movie_ids: npt.NDArray[np.int64]
    ratings: npt.NDArray[np.float32]

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"user_id": np.asarray(self.user_ids, np.int64),
                "movie_id": np.asarray(self.movie_ids, np.int64),
                "rating": np.asarray(self.ratings, np.float32)}

    @property
    def sha256(self) -> str:
        """Hash of every held-out (user, film, rating), whatever the file's compression."""
        digest = hashlib.sha256()
        for array in self.arrays().values():
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def rule(self) -> dict[str, Any]:
        """The manifest's ``gate_holdout`` section."""
        return {"users_fraction": self.users_fraction, "salt": self.salt,
                "n_users": len(np.unique(self.user_ids)), "n_ratings": len(self.ratings),
                "sha256": self.sha256}


def load_holdout(directory: str | Path) -> GateHoldout:
    """The held-out users' ratings beside a model, checked against its manifest (one line on
    any fault, e.g. a model trained before the gate or with ``--gate-users 0``)."""
    root = Path(directory)
    manifest = _read_manifest(root / MANIFEST_FILE)
    rule = manifest.get(GATE_HOLDOUT_KEY)
    path = root / HOLDOUT_FILE
    if not rule or not path.is_file():
        raise ArtifactError(f"{root}: no held-out users recorded (a model trained with "
                            "`python -m ml.training.train --gate-users F`, F > 0, has them)")
    arrays = _read_arrays(path, {})
    try:
        holdout = GateHoldout(float(rule["users_fraction"]), int(rule["salt"]),
                              arrays["user_id"], arrays["movie_id"], arrays["rating"])
    except KeyError as missing:
        raise ArtifactError(f"{path}: {missing} is missing") from None
    if holdout.sha256 != rule.get("sha256"):
        raise ArtifactError(f"{path}: held-out ratings do not match the manifest's hash")
    return holdout


@dataclass(frozen=True)
class Artifact:
    """Everything a model directory holds, in memory."""

    model: FunkSVD  # the rating model
    items: IdMap
    catalogue: tuple[CatalogueEntry, ...]  # aligned with item indices
    popularity: Popularity
    manifest: dict[str, Any]
    users: IdMap  # training users (namespaced ids), aligned with user factor rows
    implicit: IALS  # the ranking model as trained, on the same item indices
    #: The popular chart's own counts (MovieLens sources only) when the model learnt from the
    #: service's ratings (``ml.training.pipeline.chart_popularity``); None: ``popularity``.
    chart: Popularity | None = None
    #: The ranking score's item-item term (pruned rating-weighted EASE); None: not trained
    #: (a model written before it existed), and the score has no such term.
    item_item: EASE | None = None
    #: Each film's neighbourhood edge for reasons (``ml.serving.reasons.neighbour_edges``) and the
    #: neighbour count it was computed for; None: computed while serving, film by film.
    neighbour_edges: npt.NDArray[np.float32] | None = None
    neighbour_edges_k: int = 0

    @property
    def chart_popularity(self) -> Popularity:
        """What the popular chart (the list before the fifth rating) is ordered by."""
        return self.popularity if self.chart is None else self.chart

    @property
    def ranking_weights(self) -> RankingWeights:
        """The ranking stage's settings this model was trained with (its manifest)."""
        return RankingWeights.of_manifest(self.manifest)


def save_artifact(directory: str | Path, artifact: Artifact,
                  holdout: GateHoldout | None = None) -> Path:
    """Write ``artifact`` to ``directory`` atomically (a sibling temp dir, then a rename),
    with the promote gate's held-out users (``holdout``) when given."""
    target = Path(directory)
    _check_alignment(artifact)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        arrays = _arrays_of(artifact)
        factors_path = staging / FACTORS_FILE
        _write_npz(factors_path, arrays)
        catalogue_bytes = _catalogue_csv(artifact.catalogue).encode("utf-8")
        (staging / CATALOGUE_FILE).write_bytes(catalogue_bytes)
        manifest = dict(artifact.manifest)
        manifest["format_version"] = FORMAT_VERSION
        if holdout is not None:
            _write_npz(staging / HOLDOUT_FILE, holdout.arrays())
            manifest[GATE_HOLDOUT_KEY] = holdout.rule()
        manifest["files"] = {
            FACTORS_FILE: {"sha256": sha256_bytes(factors_path.read_bytes())},
            CATALOGUE_FILE: {"sha256": sha256_bytes(catalogue_bytes),
                             "rows": len(artifact.catalogue)},
        }
        manifest["arrays"] = {
            name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        staging.chmod(0o755)  # mkdtemp makes it 0700; a service user must be able to read it
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_artifact(directory: str | Path) -> Artifact:
    """Read and verify a model directory; raise ``ArtifactError`` with one line on any fault."""
    root = Path(directory)
    manifest_path = root / MANIFEST_FILE
    manifest = _read_manifest(manifest_path)
    files = manifest.get("files", {})
    for name in (FACTORS_FILE, CATALOGUE_FILE):
        path = root / name
        if not path.is_file():
            raise ArtifactError(f"{path}: missing model file")
        expected = files.get(name, {}).get("sha256")
        try:
            actual = sha256_bytes(path.read_bytes())
        except OSError as error:  # permissions, an I/O error: still one line naming the file
            raise ArtifactError(f"{path}: unreadable model file ({error.strerror})") from None
        if expected != actual:
            raise ArtifactError(
                f"{path}: checksum mismatch (manifest {str(expected)[:12]}, file {actual[:12]}); "
                "the model directory is truncated or mixed from two trainings")
    arrays = _read_arrays(root / FACTORS_FILE, manifest)
    catalogue = read_catalogue(root / CATALOGUE_FILE)
    try:
        model = FunkSVD.from_arrays(arrays)
        items = IdMap(arrays["item_ids"])
        prior_percentile = float(manifest.get("popularity", {}).get("prior_percentile", 90.0))
        popularity_params = PopularityParams(prior_percentile=prior_percentile)
        popularity = Popularity.from_counts(arrays["popularity_counts"],
                                            arrays["popularity_means"], model.global_mean,
                                            popularity_params)
        chart = None
        if CHART_COUNTS in arrays:
            chart = Popularity.from_counts(arrays[CHART_COUNTS], arrays[CHART_MEANS],
                                           model.global_mean, popularity_params)
        users = IdMap(arrays["user_ids"])
        implicit = IALS.from_arrays(_unprefixed(arrays, IMPLICIT_PREFIX))
        item_item_arrays = _unprefixed(arrays, ITEM_ITEM_PREFIX)
        item_item = EASE.from_arrays(item_item_arrays) if item_item_arrays else None
        edges = arrays.get(NEIGHBOUR_EDGES)
        edges_k = int(arrays[NEIGHBOUR_EDGES_K][0]) if edges is not None else 0
    except (KeyError, ValueError) as error:
        raise ArtifactError(f"{root / FACTORS_FILE}: inconsistent arrays ({error})") from None
    stated, actual = manifest.get("model_version"), model_version(model)
    if stated is not None and stated != actual:
        raise ArtifactError(
            f"{manifest_path}: model_version {stated!r} does not match the arrays, which are "
            f"{actual!r}; the manifest was edited or belongs to another training")
    artifact = Artifact(model, items, catalogue, popularity, manifest, users, implicit, chart,
                        item_item, edges, edges_k)
    try:
        _check_alignment(artifact)
    except ValueError as error:
        raise ArtifactError(f"{root / CATALOGUE_FILE}: {error}") from None
    return artifact


def model_version(model: FunkSVD) -> str:
    """A model's name, from its arrays' hash: the manifest's ``model_version`` must be this,
    so a served version is always the arrays it names."""
    digest = hashlib.sha256()
    for array in (model.item_factors, model.item_bias, model.user_factors):
        digest.update(np.ascontiguousarray(array).tobytes())
    return f"funksvd-{digest.hexdigest()[:10]}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _arrays_of(artifact: Artifact) -> dict[str, npt.NDArray[Any]]:
    arrays = artifact.model.arrays()
    arrays.update({IMPLICIT_PREFIX + name: a for name, a in artifact.implicit.arrays().items()})
    arrays["item_ids"] = np.asarray(artifact.items.ids, dtype=np.int64)
    arrays["user_ids"] = np.asarray(artifact.users.ids, dtype=np.int64)
    arrays["popularity_counts"] = np.asarray(artifact.popularity.counts, dtype=np.int64)
    arrays["popularity_means"] = np.asarray(artifact.popularity.means, dtype=np.float32)
    if artifact.chart is not None:
        arrays[CHART_COUNTS] = np.asarray(artifact.chart.counts, dtype=np.int64)
        arrays[CHART_MEANS] = np.asarray(artifact.chart.means, dtype=np.float32)
    if artifact.item_item is not None:
        arrays.update({ITEM_ITEM_PREFIX + name: a
                       for name, a in artifact.item_item.arrays().items()})
    if artifact.neighbour_edges is not None:
        arrays[NEIGHBOUR_EDGES] = np.asarray(artifact.neighbour_edges, dtype=np.float32)
        arrays[NEIGHBOUR_EDGES_K] = np.array([artifact.neighbour_edges_k], dtype=np.int64)
    return arrays


def _unprefixed(arrays: dict[str, npt.NDArray[Any]], prefix: str) -> dict[str, npt.NDArray[Any]]:
    return {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}


def _write_npz(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Like ``np.savez_compressed`` but byte-reproducible: fixed entry order and timestamps,
    so `make train` on the same data gives the same checksum."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            archive.writestr(info, buffer.getvalue())


def _check_alignment(artifact: Artifact) -> None:
    n_items = artifact.model.n_items
    if len(artifact.items) != n_items:
        raise ValueError(f"{len(artifact.items)} item ids for {n_items} item factor rows")
    if len(artifact.catalogue) != n_items:
        raise ValueError(f"{len(artifact.catalogue)} catalogue rows for {n_items} items")
    if len(artifact.users) != artifact.model.n_users:
        raise ValueError(f"{len(artifact.users)} user ids for {artifact.model.n_users} users")
    if any(len(p.counts) != n_items for p in (artifact.popularity, artifact.chart_popularity)):
        raise ValueError("popularity arrays do not match the item count")
    if artifact.implicit.n_items != n_items:
        raise ValueError(f"{artifact.implicit.n_items} ranking-model rows for {n_items} items")
    if artifact.item_item is not None and artifact.item_item.n_items != n_items:
        raise ValueError(f"{artifact.item_item.n_items} item-item rows for {n_items} items")
    if artifact.neighbour_edges is not None and len(artifact.neighbour_edges) != n_items:
        raise ValueError(f"{len(artifact.neighbour_edges)} neighbour edges for {n_items} items")
    ids = np.array([entry.movie_id for entry in artifact.catalogue], dtype=np.int64)
    if not np.array_equal(ids, artifact.items.ids):
        raise ValueError("catalogue movie ids are not in item-index order")


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ArtifactError(f"{path}: missing model manifest (train one with `make train`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: unreadable manifest ({error})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: manifest is not a JSON object")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ArtifactError(f"{path}: model format version {version!r}, this code reads "
                            f"{' and '.join(map(str, READABLE_VERSIONS))}")
    return manifest


def _read_arrays(path: Path, manifest: dict[str, Any]) -> dict[str, npt.NDArray[Any]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as error:  # zipfile/ValueError/OSError: any unreadable npz is one fault
        raise ArtifactError(f"{path}: unreadable arrays ({type(error).__name__})") from None
    for name, spec in manifest.get("arrays", {}).items():
        if name not in arrays:
            raise ArtifactError(f"{path}: array {name!r} is missing")
        if list(arrays[name].shape) != spec.get("shape"):
            raise ArtifactError(f"{path}: array {name!r} has shape {list(arrays[name].shape)}, "
                                f"manifest says {spec.get('shape')}")
    return arrays


def _catalogue_csv(entries: tuple[CatalogueEntry, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CATALOGUE_COLUMNS)
    for e in entries:
        writer.writerow([
            e.movie_id, e.title, "" if e.year is None else e.year, "|".join(e.genres),
            "" if e.tmdb_id is None else e.tmdb_id, e.imdb_id or "",
        ])
    return buffer.getvalue()


def read_catalogue(path: str | Path) -> tuple[CatalogueEntry, ...]:
    """A model directory's catalogue CSV, checked row by row."""
    entries = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != CATALOGUE_COLUMNS:
            raise ArtifactError(f"{path}:1: expected header {','.join(CATALOGUE_COLUMNS)}")
        for line_number, row in enumerate(reader, start=2):
            if len(row) != len(CATALOGUE_COLUMNS):
                raise ArtifactError(f"{path}:{line_number}: expected 6 fields, got {len(row)}")
            try:
                movie_id, title, year, genres, tmdb_id, imdb_id = row
                entries.append(CatalogueEntry(
                    movie_id=int(movie_id), title=title, year=int(year) if year else None,
                    genres=tuple(g for g in genres.split("|") if g),
                    tmdb_id=int(tmdb_id) if tmdb_id else None, imdb_id=imdb_id or None,
                ))
            except ValueError:
                raise ArtifactError(f"{path}:{line_number}: malformed catalogue row") from None
    return tuple(entries)


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` so readers see the old or the new model, never a mix."""
    if not target.exists():
        os.replace(staging, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.replace(target, retired / target.name)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
