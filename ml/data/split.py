"""Train/test and train/validation splits of a ratings table.

Tuning and early stopping use validation carved from training data only; the test set is never
seen before the final figure. Splits are seeded, so every figure in docs/model.md reproduces.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

Split = tuple[pd.DataFrame, pd.DataFrame]


def _apart(ratings: pd.DataFrame, held: npt.ArrayLike) -> Split:
    """The rows not ``held`` and the rows ``held``, each renumbered from 0."""
    mask = np.asarray(held, dtype=bool)
    return ratings[~mask].reset_index(drop=True), ratings[mask].reset_index(drop=True)


def random_split(ratings: pd.DataFrame, test_fraction: float, seed: int) -> Split:
    """A uniform random holdout of ``test_fraction`` of the rows."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction}")
    return _apart(ratings, np.random.default_rng(seed).random(len(ratings)) < test_fraction)


def validation_split(ratings: pd.DataFrame, fraction: float, seed: int) -> Split:
    """Like ``random_split`` but every user and film keeps at least one training rating.

    A held-out row whose user or film would vanish from training goes back to training, so the
    model has a vector for everything it is scored on.
    """
    train, held = random_split(ratings, fraction, seed)
    for column in ("user_id", "movie_id"):
        orphan = ~held[column].isin(train[column])
        if orphan.any():
            first = held[orphan].drop_duplicates(column)
            train = pd.concat([train, first], ignore_index=True)
            held = held.drop(first.index).reset_index(drop=True)
            held = held[held[column].isin(train[column])].reset_index(drop=True)
    return train, held


def users_holdout(ratings: pd.DataFrame, n_users: int, seed: int,
                  min_ratings: int = 20) -> Split:
    """Hold ``n_users`` users out entirely (for newcomer simulations)."""
    counts = ratings.groupby("user_id").size()
    eligible = np.sort(counts[counts >= min_ratings].index.to_numpy())
    rng = np.random.default_rng(seed)
    chosen = rng.choice(eligible, size=min(n_users, len(eligible)), replace=False)
    return _apart(ratings, ratings["user_id"].isin(chosen))


def hashed_share(ids: npt.ArrayLike, salt: int) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per id, fixed by (id, salt) alone (splitmix64).

    Unlike a seeded draw it does not depend on the other ids or their order, so a user is held
    out (or not) the same way in every training on the same data, whatever else was added.
    """
    with np.errstate(over="ignore"):
        z = np.asarray(ids, dtype=np.int64).astype(np.uint64) + np.uint64(salt % 2**64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def hashed_users_holdout(ratings: pd.DataFrame, fraction: float, salt: int,
                         eligible: npt.NDArray[np.bool_] | None = None) -> Split:
    """Hold out, entirely, the users whose ``hashed_share`` is below ``fraction``.

    Only rows marked ``eligible`` can be held out (the gate holds out MovieLens users, never
    the service's own). The same data and salt always hold out the same users.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held-out user fraction must be in [0, 1), got {fraction}")
    held = hashed_share(ratings["user_id"].to_numpy(), salt) < fraction
    if eligible is not None:
        held &= eligible
    return _apart(ratings, held)
