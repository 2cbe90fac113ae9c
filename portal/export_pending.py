"""The answer to a download whose export is not ready: 202 « en préparation ».

Browsers get a French page (`export_pending.html`) whose small script polls the status
(`?etat`) and starts the download when the file is ready; API clients and scripts
(`Accept: application/json`, or `?etat`) get JSON with the same URLs and `Retry-After`.
A failed preparation is a 500 with its reason; the next request after a while tries again.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from niaouli import export_jobs, exports
from niaouli.i18n import _
from niaouli.portal.common import Portal

RETRY_AFTER = 5


def wants_json(request: Request) -> bool:
    """`?etat`, or an Accept header that prefers JSON to HTML."""
    if "etat" in request.query_params:
        return True
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


def _message(state: str) -> str:
    if state == export_jobs.READY:
        return _("Votre fichier est prêt.")
    if state == export_jobs.FAILED:
        return _("La préparation du fichier a échoué.")
    if state == export_jobs.RUNNING:
        return _("Votre fichier est en préparation : la préparation est en cours.")
    return _("Votre fichier est en préparation : il attend son tour.")


def answer(
    portal: Portal,
    request: Request,
    current: export_jobs.ExportState,
    fmt: exports.ExportFormat,
    filename: str,
    dataset_path: str,
) -> Response:
    """202 (or 200 for `?etat` of a ready file, 500 for a failed one) as JSON or a page."""
    url = request.url.path
    state = "queued" if current.state == "absent" else current.state
    code = {export_jobs.READY: 200, export_jobs.FAILED: 500}.get(state, 202)
    headers = {"Cache-Control": "no-store"}
    if code == 202:
        headers["Retry-After"] = str(RETRY_AFTER)
    if wants_json(request):
        body = {
            "state": state,
            "message": _message(state),
            "error": current.error,
            "format": fmt.label,
            "url": url,
            "status_url": f"{url}?etat",
            "dataset_url": dataset_path,
            "retry_after": RETRY_AFTER if code == 202 else None,
        }
        return JSONResponse(body, status_code=code, headers=headers)
    response = portal.render(
        request,
        "export_pending.html",
        status=code,
        state=state,
        message=_message(state),
        error=current.error,
        format_label=fmt.label,
        filename=filename,
        url=url,
        dataset_path=dataset_path,
        retry_after=RETRY_AFTER,
    )
    response.headers.update(headers)
    return response
