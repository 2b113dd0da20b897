"""Operator endpoints, mounted only when ``CINEMATCH_ADMIN_TOKEN`` is set (else 404).

The admin token is not a user's token: it is compared in constant time with the configured
one and never stored or logged.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from api.auth import unauthorized
from api.deps import ServicesDep
from api.model_swap import ModelReloadError, ModelSwapper
from api.responses import error_responses

router = APIRouter(tags=["service"])
_bearer = HTTPBearer(auto_error=False, description="The operator's CINEMATCH_ADMIN_TOKEN.")

ADMIN_TOKEN_MISSING = "This route needs the operator's token: Authorization: Bearer <token>."
ADMIN_TOKEN_WRONG = "That is not the operator's token."


class ReloadOut(BaseModel):
    model_version: str = Field(examples=["funksvd-8d1c80dbb9"])
    previous_model_version: str
    n_movies: int
    model_dir: str = Field(description="The folder the model was read from (symlinks resolved).")


def require_admin(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 without a bearer token, 403 with the wrong one."""
    expected = services.settings.admin_token
    if credentials is None:
        raise unauthorized(ADMIN_TOKEN_MISSING)
    if expected is None or not hmac.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, ADMIN_TOKEN_WRONG)


@router.post(
    "/admin/reload",
    summary="Load the model at CINEMATCH_MODEL_DIR again and serve it",
    dependencies=[Depends(require_admin)],
    responses=error_responses(
        {
            401: ADMIN_TOKEN_MISSING,
            403: ADMIN_TOKEN_WRONG,
            409: "cannot load /srv/models/current: models/factors.npz: checksum mismatch; "
            "still serving funksvd-8d1c80dbb9",
        }
    ),
)
async def reload_model(request: Request, services: ServicesDep) -> ReloadOut:
    """Reads the model directory again (after `python -m ml.training.promote` switched it) and
    serves it from the next request on. Requests in flight finish on the old model; cached lists and
    profiles of the old model are dropped. A directory that fails to load is refused with 409
    and the old model keeps serving. Each replica reloads on its own: call every one, or let
    them watch the path (`CINEMATCH_MODEL_WATCH_S`)."""
    swapper: ModelSwapper = request.app.state.model_swapper
    previous = services.recommender.model_version
    try:
        model = await swapper.reload()
    except ModelReloadError as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{error}; still serving {previous}"
        ) from None
    return ReloadOut(
        model_version=model.model_version,
        previous_model_version=previous,
        n_movies=model.n_movies,
        model_dir=str(swapper.loaded_from),
    )
