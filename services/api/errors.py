"""JSON errors of the API: an HTTP status, a stable `code` and a French `description`."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from niaouli.accounts.resolve import CHALLENGE
from niaouli.errors import (
    CatalogueError,
    ConflictError,
    ForbiddenError,
    NiaouliError,
    NotFoundError,
)
from niaouli.i18n import DEFAULT, LANGUAGES, _, speaking

LOGGER = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str, **extra: Any) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.extra = extra


def not_found(what: str = "ressource") -> ApiError:
    return ApiError(404, "NotFound", f"{what} introuvable")


def forbidden(description: str) -> ApiError:
    return ApiError(403, "Forbidden", description)


def invalid(description: str) -> ApiError:
    return ApiError(422, "InvalidValue", description)


def conflict(description: str) -> ApiError:
    return ApiError(409, "Conflict", description)


# The core's refusals (`niaouli.errors`) as HTTP statuses; anything else it refuses is
# invalid input. The body keeps the shape of every API error: the kind's stable `code`
# and the core's message, already in the request's language.
CORE_STATUSES: tuple[tuple[type[NiaouliError], int], ...] = (
    (NotFoundError, 404),
    (ForbiddenError, 403),
    (ConflictError, 409),
)


def from_core(exc: NiaouliError) -> ApiError:
    """The API's answer to a refusal of the core."""
    status = next((s for kind, s in CORE_STATUSES if isinstance(exc, kind)), 422)
    code = exc.code if status != 422 else CatalogueError.code
    return ApiError(status, code, str(exc), **getattr(exc, "details", {}))


def response(error: ApiError) -> JSONResponse:
    body = {"code": error.code, "description": error.description, **error.extra}
    headers = {"Cache-Control": "no-store"}
    if error.status == 401:
        headers["WWW-Authenticate"] = CHALLENGE
    return JSONResponse(body, status_code=error.status, headers=headers)


MESSAGES = {
    "missing": "obligatoire",
    "extra_forbidden": "champ inconnu",
    "string_too_long": "trop long",
    "string_too_short": "trop court",
    "string_type": "texte attendu",
    "list_type": "liste attendue",
    "int_parsing": "nombre entier attendu",
    "float_parsing": "nombre attendu",
    "bool_parsing": "vrai ou faux attendu",
    "enum": "valeur inconnue",
    "literal_error": "valeur inconnue",
    "datetime_from_date_parsing": "date et heure attendues (AAAA-MM-JJTHH:MM)",
    "datetime_parsing": "date et heure attendues (AAAA-MM-JJTHH:MM)",
    "date_from_datetime_parsing": "date attendue (AAAA-MM-JJ)",
    "string_pattern_mismatch": "format invalide",
    "model_type": "objet JSON attendu",
    "dict_type": "objet JSON attendu",
}


def from_validation(exc: ValidationError) -> ApiError:
    """A pydantic error, in French, with the faulty fields."""
    fields = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item.get("loc", ())) or "corps"
        message = MESSAGES.get(item.get("type", ""), item.get("msg", "valeur invalide"))
        fields.append({"field": where, "message": message})
    summary = " ; ".join(f"« {f['field']} » : {f['message']}" for f in fields[:5])
    return ApiError(422, "InvalidValue", f"données invalides — {summary}", fields=fields)


async def handle(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return response(exc)


async def handle_core(_request: Request, exc: Exception) -> JSONResponse:
    """The one place a refusal of the core becomes an HTTP answer (`from_core`)."""
    assert isinstance(exc, NiaouliError)
    return response(from_core(exc))


async def concurrent_change(request: Request, exc: Exception) -> JSONResponse:
    """A unique or foreign key the database refused: another request changed the same
    thing at the same moment (two creations of one slug on PostgreSQL), a 409."""
    LOGGER.warning("%s %s: %s", request.method, request.url.path, exc)
    asked = request.query_params.get("lang", "").lower()
    with speaking(asked if asked in LANGUAGES else DEFAULT):
        description = _("modification concurrente : la même ressource vient de changer, réessayez")
    return response(ApiError(409, "Conflict", description))
