"""A person's account: bring ratings in, take them out, sign in elsewhere, leave for good.

Import matches the whole file (``ml.text.imports``) before writing every new or newer rating
in ONE transaction: a bad file is a 4xx that writes nothing. Each import request, dry run
included, costs ONE write of the user's allowance (reading 5 MB costs real CPU). Passwords are
hashed with argon2id in the threadpool, never logged or echoed back.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Annotated, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import (
    APIRouter,
    Depends,
    File,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)

from api import auth
from api.deps import ServicesDep, SessionDep
from api.errors import DATABASE_BUSY
from api.headers import NO_STORE, no_store
from api.limits import rating_count_within_cap, user_limit_keys
from api.params import BAD_USER_ID, UserIdPath
from api.responses import TOO_MANY_WRITES, UNREADABLE_BODY, auth_responses, error_responses
from api.schemas import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, CredentialsIn, SignInIn
from contract.models import CredentialsOut, ImportedRating, ImportOut, NotImported, SessionOut
from db import repository
from db.models import utcnow
from db.session import write_transaction
from ml.serving.recommender import Recommender
from ml.text.imports import (
    EXPORT_COLUMNS,
    KEPT_LISTS,
    RATED,
    ImportFileError,
    MatchedRating,
    plan_import,
)

router = APIRouter(tags=["accounts"])

#: The import route, whose body may be a file (api.main raises its body cap).
IMPORT_PATH = re.compile(r"^/users/[^/]+/import$")
WRONG_SIGN_IN = "wrong username or password"

_hasher = PasswordHasher()  # argon2id, argon2-cffi's recommended parameters
#: Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


ImportSource = Literal["letterboxd", "imdb", "movielens", "cinematch", "auto"]


@router.post(
    "/users/{user_id}/import",
    summary="Import ratings from Letterboxd, IMDb, MovieLens or a CineMatch export",
    responses=auth_responses(
        {
            400: UNREADABLE_BODY,
            413: "the file is over 5 MB",
            422: "ratings.csv: line 7: rating 6 is off the scale (0.5 to 5 in steps of 0.5)",
            429: TOO_MANY_WRITES,
            503: DATABASE_BUSY,
        }
    ),
)
def import_ratings(
    user_id: UserIdPath,
    token: auth.BearerToken,
    session: SessionDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="The export, a CSV file of at most 5 MB.")],
    source: Annotated[
        ImportSource,
        Query(
            description="The site the file comes from; auto reads its header.",
            examples=["letterboxd"],
        ),
    ] = "auto",
    dry_run: Annotated[
        bool,
        Query(description="Only show what would be imported; write nothing.", examples=[True]),
    ] = False,
) -> ImportOut:
    """Upload the CSV as the multipart field `file`:

    * **letterboxd**: `ratings.csv` (or `diary.csv`) from Letterboxd's data export, matched by
      title and year; films the catalogue lacks, or could be several films, are listed in
      `unmatched` with the reason;
    * **imdb**: IMDb's ratings export, matched by IMDb id; 1–10 becomes 0.5–5; TV series and
      episodes are skipped and listed;
    * **movielens**: one user's `ratings.csv`; **cinematch**: `GET /users/{id}/export`, whose
      watchlist and hidden films are put back on those lists too (`listed`).

    A film already rated here is overwritten only when the file's date for it is newer, so
    importing the same file twice changes nothing. A file that is not a CSV export, has a
    rating off the scale, more than 20,000 rows or over 5 MB is refused whole (4xx) and
    nothing is written; so is an import that would take the user past
    `CINEMATCH_MAX_RATINGS_PER_USER` ratings (409). Each request, preview included, costs one
    write of the user's allowance (429 past it)."""
    auth.authorize(session, user_id, token)
    # After the token check (nobody spends another's allowance); committed at once.
    with write_transaction(session):
        services.write_limiter.check(session, user_id, f"for user {user_id}")
    limit = services.settings.import_max_bytes
    data = file.file.read(limit + 1)
    name = file.filename or "file"
    if len(data) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{name}: the file is over the {limit // (1024 * 1024)} MB limit",
        )
    catalogue = services.import_catalogue()
    try:
        plan = plan_import(data, source, catalogue)
    except ImportFileError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {error}") from None
    dated, undated = _stamped(plan.matched, utcnow())
    if dry_run:
        stored = repository.user_rating_times(session, user_id)
        saved = _would_write(dated, undated, stored)
        on_lists = {kind: {s.movie_id for s in repository.user_signals(session, user_id, kind)}
                    for kind in KEPT_LISTS}
        listed = sum(1 for film in plan.listed if film.movie_id not in on_lists[film.kind])
    else:
        with write_transaction(session):
            # Lists first: a film the file also rates then leaves the watchlist.
            listed = sum(repository.add_signal(session, user_id, film.kind, film.movie_id)
                         for film in plan.listed)
            saved = repository.import_ratings(session, user_id, dated, undated)
            rating_count_within_cap(session, user_id, services.settings, f"{name}: ")
        if saved or listed:
            services.user_cache.invalidate(user_id)
    return ImportOut(
        source=plan.source,
        rows=plan.rows,
        matched=[
            ImportedRating(title=m.title, year=m.year, movie_id=m.movie_id, rating=m.rating)
            for m in plan.matched
        ],
        unmatched=[
            NotImported(title=u.title, year=u.year, reason=u.reason) for u in plan.unmatched
        ],
        saved=saved,
        unchanged=len(plan.matched) - saved,
        listed=listed,
        dry_run=dry_run,
    )


Stamped = list[tuple[int, float, datetime]]


def _stamped(matched: list[MatchedRating], now: datetime) -> tuple[Stamped, Stamped]:
    """(movie, rating, time) of the file's dated ratings and of its undated ones; a date in
    the future is now, and an undated rating is stamped now."""
    dated, undated = [], []
    for m in matched:
        if m.rated_at is None:
            undated.append((m.movie_id, m.rating, now))
        else:
            dated.append((m.movie_id, m.rating, min(m.rated_at, now)))
    return dated, undated


def _would_write(dated: Stamped, undated: Stamped, stored: dict[int, datetime]) -> int:
    """How many ratings ``repository.import_ratings`` would write, from the stored dates."""
    newer = sum(1 for m, _, at in dated if m not in stored or at > stored[m])
    return newer + sum(1 for m, _, _ in undated if m not in stored)


@router.get(
    "/users/{user_id}/export",
    summary="Download your ratings as CSV",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {"example": ",".join(EXPORT_COLUMNS) + "\n"}},
            "description": "The CSV file.",
        },
        **auth_responses({422: BAD_USER_ID}),
    },
)
def export_ratings(
    user_id: UserIdPath, token: auth.BearerToken, session: SessionDep, services: ServicesDep
) -> Response:
    """Every rating as `movie_id,imdb_id,tmdb_id,title,year,rating,rated_at,list` (`list` is
    `rated`), then the watchlist and hidden films, unrated, with their list's name. Importing
    this file with `source=cinematch` restores exactly these ratings."""
    auth.authorize(session, user_id, token)
    stored = repository.user_ratings_newest_first(session, user_id)
    listed = repository.user_list_entries(session, user_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for rating in stored:
        film = _film_columns(services.recommender, rating.movie_id)
        writer.writerow(
            [rating.movie_id, *film, rating.rating, rating.updated_at.isoformat(), RATED]
        )
    for kind, movie_id, added_at in listed:  # watchlist and hidden films: no rating
        film = _film_columns(services.recommender, movie_id)
        writer.writerow([movie_id, *film, "", added_at.isoformat(), kind])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="cinematch-{user_id}.csv"',
            "Cache-Control": NO_STORE,
        },
    )


def _film_columns(recommender: Recommender, movie_id: int) -> list[object]:
    """imdb_id, tmdb_id, title, year of a film; blanks for one an older catalogue had (the
    id alone still restores it)."""
    try:
        movie = recommender.movie(movie_id)
    except KeyError:
        return ["", "", "", ""]
    imdb = f"tt{movie.imdb_id}" if movie.imdb_id else ""
    return [imdb, movie.tmdb_id or "", movie.title, movie.year or ""]


@router.put(
    "/users/{user_id}/credentials",
    summary="Choose a username and password to sign in on another device",
    responses=auth_responses(
        {
            400: UNREADABLE_BODY,
            409: "that username is taken",
            422: "password: use 10 to 1024 characters",
            429: "Too many password changes; retry in 12 s.",
        }
    ),
)
def set_credentials(
    user_id: UserIdPath,
    body: CredentialsIn,
    token: auth.BearerToken,
    request: Request,
    session: SessionDep,
    services: ServicesDep,
) -> CredentialsOut:
    """Set (or change) the username and password. Usernames are unique ignoring case;
    passwords need at least 10 characters and are stored only as an argon2id hash. Changes
    are limited per user and per address (each costs a hash), and asking for a username
    counts as a sign-in attempt on it, so this route tells no more about which usernames
    exist than signing in does (429 with `Retry-After` past either limit). Every other
    device's token is revoked: after a change, only this device and new sign-ins get in."""
    token_id = auth.authorize(session, user_id, token)
    password = body.password.get_secret_value()
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"password: use {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters",
        )
    key = body.username.lower()
    address = client_address(request)
    with write_transaction(session):  # counted (and committed) before anything is answered
        services.credentials_limiter.check(session, user_id, address)
        services.signin_limiter.check(session, key, address)
    if repository.username_taken(session, key, user_id):
        raise _taken()
    password_hash = _hasher.hash(password)
    with write_transaction(session):
        if repository.username_taken(session, key, user_id):  # taken while we hashed
            raise _taken()
        repository.set_credentials(session, user_id, body.username, key, password_hash)
        repository.revoke_other_tokens(session, user_id, token_id)
    return CredentialsOut(user_id=user_id, username=body.username)


def client_address(request: Request) -> str:
    """The client's address as the API sees it (behind trusted proxies: the one they name)."""
    return request.client.host if request.client else "-"


@router.get(
    "/users/{user_id}/credentials",
    summary="Whether the account has a username and password (never the password)",
    responses=auth_responses({422: BAD_USER_ID}),
)
def get_credentials(
    user_id: UserIdPath, token: auth.BearerToken, session: SessionDep
) -> CredentialsOut:
    """`username` is null while the account can only be resumed with its token."""
    auth.authorize(session, user_id, token)
    return CredentialsOut(user_id=user_id, username=repository.username_of(session, user_id))


def _taken() -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, "that username is taken")


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    summary="Sign in with a username and password: a new token for this device",
    # The new token is a password: no cache on the way may keep a copy of this answer.
    dependencies=[Depends(no_store)],
    responses=error_responses(
        {
            400: UNREADABLE_BODY,
            401: WRONG_SIGN_IN,
            422: "username: Field required",
            429: "Too many sign-in attempts; retry in 12 s.",
            503: DATABASE_BUSY,
        }
    ),
)
def sign_in(
    body: SignInIn, request: Request, services: ServicesDep, session: SessionDep
) -> SessionOut:
    """The same 401 answers a wrong username and a wrong password. Attempts are limited per
    username and per address (429 with `Retry-After`)."""
    key = body.username.lower()
    address = client_address(request)
    with write_transaction(session):  # the attempt is counted (and committed) before checking
        services.signin_limiter.check(session, key, address)
    found = repository.credentials_of(session, key)
    password = body.password.get_secret_value()
    ok = _verify(found[1] if found else _DUMMY_HASH, password)
    if found is None or not ok:
        raise auth.unauthorized(WRONG_SIGN_IN)
    user_id = found[0]
    token = auth.new_token()
    with write_transaction(session):
        repository.add_token(session, user_id, auth.hash_token(token))
    return SessionOut(user_id=user_id, token=token)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@router.delete(
    "/sessions/current",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out: revoke the token in use",
    responses=error_responses({401: "this token is unknown or already revoked"}),
)
def sign_out(token: auth.BearerToken, session: SessionDep) -> Response:
    """The token sent with this request stops working; the user's other tokens do not."""
    found = repository.live_token(session, auth.hash_token(token))
    if found is None:
        raise auth.unauthorized("this token is unknown or already revoked")
    with write_transaction(session):
        repository.revoke_token(session, found[0])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the account and everything it holds",
    responses=auth_responses({422: BAD_USER_ID, 503: DATABASE_BUSY}),
)
def delete_account(
    user_id: UserIdPath, token: auth.BearerToken, session: SessionDep, services: ServicesDep
) -> Response:
    """Removes the user, their ratings, tokens, username, lists and rate-limit state, at once
    and for good. Every token of theirs then gets 401."""
    auth.authorize(session, user_id, token)
    with write_transaction(session):
        keys, prefixes = user_limit_keys(user_id, repository.username_key_of(session, user_id))
        repository.delete_rate_limits(session, keys, prefixes)
        repository.delete_user(session, user_id)
    services.user_cache.invalidate(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
