"""Requests in plain words: ``GET /intent?q=`` reads one; ``/recommend?q=`` applies it.

The reading is ``api.intent_llm.IntentReader``'s (the offline parser of ``ml/text/intent.py``, or
an LLM when configured); this module holds the route and the pieces ``/recommend`` shares.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from api.deps import ServicesDep
from api.intent_llm import ReadIntent
from api.responses import error_responses
from contract.models import IntentFilmOut, IntentOut, RelaxationOut
from ml.serving.recommender import RecommendationList
from ml.text.intent import MAX_QUERY_CHARS
from ml.text.titles import parse_title

router = APIRouter(tags=["recommendations"])

IntentText = Annotated[
    str,
    Query(min_length=1, max_length=MAX_QUERY_CHARS,
          description="What the person is in the mood for, in plain words.",
          examples=["something scary from the 90s"]),
]
OptionalIntentText = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_QUERY_CHARS,
          description="A request in plain words (as for GET /intent): its genres, "
          "exclusions and years filter the list, its reference films pull it towards them.",
          examples=["like Alien but funnier"]),
]
BLANK_TEXT = "query parameter q: the request is blank; say what you are in the mood for"


def request_text(q: str) -> str:
    """``q`` without surrounding blanks; 422 when nothing is left."""
    text = q.strip()
    if not text:
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=BLANK_TEXT)
    return text


def intent_out(read: ReadIntent) -> IntentOut:
    intent = read.intent
    return IntentOut(
        query=intent.query, genres=list(intent.genres),
        exclude_genres=list(intent.exclude_genres), year_from=intent.year_from,
        year_to=intent.year_to,
        similar_to=[IntentFilmOut(movie_id=f.movie_id, title=f.title, year=f.year,
                                  name=parse_title(f.title).title)
                    for f in intent.similar_to],
        mood=intent.mood, unparsed=list(intent.unparsed), parser=read.parser,
        note=read.note,
    )


def request_fields(read: ReadIntent, result: RecommendationList) -> dict[str, Any]:
    """What a ``/recommend?q=`` answer adds: the reading, relaxations, and a note if needed."""
    note = result.note
    if read.intent.is_empty:
        note = (f"Nothing in \N{LEFT DOUBLE QUOTATION MARK}{read.intent.query}"
                "\N{RIGHT DOUBLE QUOTATION MARK} could be used as a filter: this is your "
                "usual list")
    return {
        "intent": intent_out(read),
        "relaxed": [RelaxationOut(step=r.step, reason=r.reason) for r in result.relaxed],
        "note": note,
    }


@router.get(
    "/intent",
    summary="Read a request in plain words",
    response_model=IntentOut,
    responses=error_responses(
        {422: "query parameter q: String should have at most 300 characters"}),
)
async def read_intent(q: IntentText, services: ServicesDep, request: Request) -> IntentOut:
    """Genres, excluded genres, years, reference films and mood in `q` (1–300 characters),
    in the catalogue's terms; words that could not be used come back in `unparsed`. No
    token needed: nothing personal is read. With an LLM configured, its calls are bounded
    (a cache, a limit per address and a budget a minute); past them the offline parser
    answers and `note` says so."""
    address = request.client.host if request.client else None
    return intent_out(await services.intent_reader.read(request_text(q), address))
