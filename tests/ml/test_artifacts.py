"""The model directory round-trips exactly and refuses to load when damaged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml.serving.artifacts import (
    CATALOGUE_FILE,
    FACTORS_FILE,
    MANIFEST_FILE,
    ArtifactError,
    load_artifact,
    save_artifact,
)


def test_save_load_round_trip_keeps_every_array_and_the_catalogue(tiny_model_dir: Path,
                                                                  tmp_path: Path):
    first = load_artifact(tiny_model_dir)
    save_artifact(tmp_path / "again", first)
    second = load_artifact(tmp_path / "again")
    for name in ("user_factors", "user_bias", "item_factors", "item_bias", "fold_in_reg"):
        np.testing.assert_array_equal(getattr(first.model, name), getattr(second.model, name))
    assert first.model.global_mean == second.model.global_mean
    assert first.catalogue == second.catalogue
    np.testing.assert_array_equal(first.items.ids, second.items.ids)
    np.testing.assert_array_equal(first.popularity.average, second.popularity.average)
    assert first.catalogue[0].title and first.catalogue[0].genres


def test_saving_twice_overwrites_atomically_without_leftovers(tiny_model_dir: Path,
                                                               tmp_path: Path):
    artifact = load_artifact(tiny_model_dir)
    target = tmp_path / "models"
    save_artifact(target, artifact)
    save_artifact(target, artifact)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [FACTORS_FILE, CATALOGUE_FILE, MANIFEST_FILE])


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / FACTORS_FILE).unlink(), "factors.npz: missing"),
    (lambda d: (d / MANIFEST_FILE).unlink(), "manifest.json: missing"),
    (lambda d: (d / FACTORS_FILE).write_bytes((d / FACTORS_FILE).read_bytes()[:200]),
     "factors.npz: checksum mismatch"),
    (lambda d: (d / CATALOGUE_FILE).write_text("movie_id,title\n1,x\n"),
     "catalogue.csv: checksum mismatch"),
    (lambda d: (d / MANIFEST_FILE).write_text("{not json"), "manifest.json: unreadable"),
])
def test_a_damaged_model_is_refused_with_one_line_naming_the_file(tiny_model_copy: Path,
                                                                   damage, expected):
    damage(tiny_model_copy)
    with pytest.raises(ArtifactError) as caught:
        load_artifact(tiny_model_copy)
    message = str(caught.value)
    assert expected in message and "\n" not in message


def test_a_model_of_another_format_version_is_refused(tiny_model_copy: Path):
    manifest = json.loads((tiny_model_copy / MANIFEST_FILE).read_text())
    manifest["format_version"] = 999
    (tiny_model_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="format version 999"):
        load_artifact(tiny_model_copy)


def test_a_shape_mismatch_against_the_manifest_is_refused(tiny_model_copy: Path):
    manifest = json.loads((tiny_model_copy / MANIFEST_FILE).read_text())
    manifest["arrays"]["item_factors"]["shape"] = [1, 1]
    (tiny_model_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="item_factors"):
        load_artifact(tiny_model_copy)


def test_the_npz_holds_plain_arrays_only(tiny_model_dir: Path):
    with np.load(tiny_model_dir / FACTORS_FILE, allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)


def test_a_saved_model_is_readable_by_a_service_user(tiny_model_dir: Path, tmp_path: Path):
    target = save_artifact(tmp_path / "models", load_artifact(tiny_model_dir))
    assert target.stat().st_mode & 0o755 == 0o755


def test_a_model_trained_with_the_services_ratings_keeps_its_own_chart_and_serves_it(
        tiny_model_dir: Path, tmp_path: Path):
    """The popular chart of a model that learnt from app ratings counts the MovieLens sources
    only (``ml.training.pipeline.chart_popularity``); it survives a save and orders the popular
    list."""
    import pandas as pd

    from ml.data.app import APP_SOURCE
    from ml.serving.recommender import Recommender
    from ml.training.pipeline import chart_popularity

    artifact = load_artifact(tiny_model_dir)
    assert artifact.chart is None and artifact.chart_popularity is artifact.popularity
    ids = artifact.items.ids
    top, brigaded = int(ids[0]), int(ids[-1])
    movielens = pd.DataFrame({"user_id": [1, 2, 3, 4], "movie_id": [top, top, top, brigaded],
                              "rating": [4.5, 4.0, 4.5, 1.0], "source": "ml-1m"})
    brigade = pd.DataFrame({"user_id": [-u for u in range(1, 41)], "movie_id": brigaded,
                            "rating": 5.0, "source": APP_SOURCE})
    ratings = pd.concat([movielens, brigade], ignore_index=True)
    ratings["source"] = ratings["source"].astype("category")
    assert chart_popularity(movielens.astype({"source": "category"}), artifact.items, 3.5) is None
    chart = chart_popularity(ratings, artifact.items, 3.5)
    assert chart is not None
    assert chart.counts[artifact.items.get(brigaded)] == 1  # the 40 app ratings are not in it
    from dataclasses import replace
    save_artifact(tmp_path / "learnt", replace(artifact, chart=chart))
    again = load_artifact(tmp_path / "learnt")
    assert again.chart is not None
    np.testing.assert_array_equal(again.chart.counts, chart.counts)
    popular = Recommender(again).recommend({}, 3).items
    assert popular[0].movie_id == top
    assert brigaded not in [m.movie_id for m in popular]
    # A chart that does not cover every film is refused like any misaligned array.
    short = replace(chart, counts=chart.counts[:-1], means=chart.means[:-1])
    with pytest.raises(ValueError, match="popularity arrays"):
        save_artifact(tmp_path / "short", replace(artifact, chart=short))


def test_neighbour_edges_are_stored_and_served(tiny_model_dir):
    """A trained model stores every film's neighbourhood edge for the neighbour count the
    service uses; the recommender starts with them instead of computing them per request."""
    import numpy as np

    from ml.serving.reasons import neighbour_count
    from ml.serving.recommender import Recommender

    artifact = load_artifact(tiny_model_dir)
    assert artifact.neighbour_edges is not None
    assert artifact.neighbour_edges_k == neighbour_count(artifact.model.n_items)
    served = Recommender(artifact).neighbourhoods
    assert not np.isnan(served._edge).any()
    films = np.arange(artifact.model.n_items)
    lazy = type(served)(served.unit_factors, served.k)
    np.testing.assert_allclose(served.edges(films), lazy.edges(films), rtol=1e-5, atol=1e-6)
