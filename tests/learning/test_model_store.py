"""The model store: versions never change once added, switches are atomic, rollback goes back."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.serving.model_store import ModelStore, ModelStoreError


def trained(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "out" / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(f'{{"model_version": "{name}"}}')
    return folder


def test_promote_switches_current_and_the_path_resolves_to_the_version(tmp_path):
    store = ModelStore(tmp_path / "store")
    first = store.add(trained(tmp_path, "a"), "a")
    store.promote(first)
    assert store.current() == first
    assert (store.current_link / "manifest.json").read_text() == '{"model_version": "a"}'
    assert store.current_link.resolve() == store.path_of(first).resolve()


def test_rollback_goes_back_one_promotion_at_a_time(tmp_path):
    store = ModelStore(tmp_path / "store")
    names = [store.add(trained(tmp_path, n), n) for n in "abc"]
    for name in names:
        store.promote(name)
    assert store.rollback() == names[1]
    assert store.current() == names[1]
    assert store.rollback() == names[0]
    with pytest.raises(ModelStoreError, match="no earlier version"):
        store.rollback()


def test_rollback_without_history_is_a_clear_error(tmp_path):
    with pytest.raises(ModelStoreError):
        ModelStore(tmp_path / "empty").rollback()


def test_prune_keeps_the_newest_and_never_the_current(tmp_path):
    store = ModelStore(tmp_path / "store")
    names = [store.add(trained(tmp_path, n), n) for n in "abcd"]
    store.promote(names[0])
    removed = store.prune(keep=2)
    assert removed == [names[1]]
    assert store.versions() == [names[0], names[2], names[3]]


def test_promoting_an_unknown_version_changes_nothing(tmp_path):
    store = ModelStore(tmp_path / "store")
    name = store.add(trained(tmp_path, "a"), "a")
    store.promote(name)
    with pytest.raises(ModelStoreError, match="no such model version"):
        store.promote("nope")
    assert store.current() == name
