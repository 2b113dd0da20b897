"""The product's rules, each stated once.

Every layer (trainer, API validation, popularity/personal switch) reads these names, so the
rating scale and the five-rating threshold cannot drift apart between ml, api and db.
"""

from datetime import UTC, datetime
from typing import Final

RATING_MIN: Final[float] = 0.5
RATING_MAX: Final[float] = 5.0
RATING_STEP: Final[float] = 0.5
#: Every allowed rating, from RATING_MIN to RATING_MAX in steps of RATING_STEP.
RATING_VALUES: Final[tuple[float, ...]] = tuple(
    RATING_MIN + i * RATING_STEP for i in range(round((RATING_MAX - RATING_MIN) / RATING_STEP) + 1)
)

#: The earliest time a rating may carry (the Unix epoch): no film was rated online before it, and
#: a time far outside the calendar cannot even be converted to UTC.
EARLIEST_RATING_TIME: Final[datetime] = datetime(1970, 1, 1, tzinfo=UTC)

#: A user with at least this many ratings gets a personal list; below it, popularity.
PERSONALISATION_THRESHOLD: Final[int] = 5

#: A rating at or above this counts as a "positive" for top-N metrics, and is the least a film
#: must have been rated for a reason to name it ("Because you loved ...").
POSITIVE_RATING: Final[float] = 4.0


def ratings_needed(n_ratings: int) -> int:
    """How many more ratings a user needs before the list becomes personal."""
    return max(0, PERSONALISATION_THRESHOLD - n_ratings)


def is_personal(n_ratings: int) -> bool:
    """Whether a user with ``n_ratings`` ratings gets a personal list."""
    return n_ratings >= PERSONALISATION_THRESHOLD
