"""The core's one root exception and its mapping to HTTP (issue 16 §5).

The refusals live in `niaouli.errors`; their old homes still name the same classes, the
specific kinds stay `CatalogueError`s (forms that show "what the catalogue refused"
catch them all), and the API answers each kind with one status and its stable code. The
CSW's dataset columns are the core's field list plus the server's own.
"""

from __future__ import annotations

import dataclasses

import pytest

from niaouli import errors
from niaouli.accounts.users import AccountError
from niaouli.catalogue import editing, publication, service, versions
from niaouli.catalogue.columns import ColumnError
from niaouli.catalogue.community.common import OrganisationRefusedError
from niaouli.catalogue.gazetteer import GazetteerError
from niaouli.i18n import speaking
from niaouli.links import LinkError
from niaouli.services.api.errors import from_core
from niaouli.services.csw.view import VIEW_COLUMNS, DatasetView


def test_one_root_and_the_old_names() -> None:
    assert service.CatalogueError is errors.CatalogueError
    assert service.NotFoundError is errors.NotFoundError
    assert publication.ForbiddenError is errors.ForbiddenError
    assert editing.ConflictError is errors.ConflictError
    for kind in (errors.NotFoundError, errors.ForbiddenError, errors.ConflictError):
        assert issubclass(kind, errors.CatalogueError)
    assert issubclass(errors.CatalogueError, errors.NiaouliError)
    assert issubclass(errors.CatalogueError, ValueError)  # callers catching ValueError
    assert issubclass(versions.RestoreError, errors.NotFoundError)
    # Other refusals of invalid input share the root, not `CatalogueError` (no handler
    # written before catches more than it did).
    for kind in (LinkError, AccountError, ColumnError, GazetteerError):
        assert issubclass(kind, errors.NiaouliError) and issubclass(kind, ValueError)
        assert not issubclass(kind, errors.CatalogueError)
        assert from_core(kind("non")).status == 422


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        (errors.CatalogueError("titre trop court"), 422, "InvalidValue"),
        (errors.NotFoundError("version introuvable"), 404, "NotFound"),
        (versions.RestoreError("version introuvable"), 404, "NotFound"),
        (errors.ForbiddenError("seuls les éditeurs"), 403, "Forbidden"),
        (errors.ConflictError("existe déjà"), 409, "Conflict"),
        (OrganisationRefusedError("nulle-part", unknown=True), 422, "InvalidValue"),
    ],
)
def test_the_api_maps_each_kind_once(refusal: errors.NiaouliError, status: int, code: str) -> None:
    answer = from_core(refusal)
    assert (answer.status, answer.code, answer.description) == (status, code, str(refusal))


def test_messages_follow_the_language_of_the_request() -> None:
    with speaking("en"):
        english = str(OrganisationRefusedError("x", unknown=False))
    french = str(OrganisationRefusedError("x", unknown=False))
    assert french == "choisissez une organisation dont vous êtes éditeur"
    assert english != french


def test_the_csw_reads_the_core_field_list() -> None:
    assert set(service.DATASET_FIELDS) <= set(VIEW_COLUMNS)
    assert len(set(VIEW_COLUMNS)) == len(VIEW_COLUMNS)
    # Every stored field of a record's view is a column read (the rest are joined or made).
    made = {"organisation_name", "organisation_email", "organisation_website", "coverage_wkt"}
    made |= {"layers", "resources", "rasters", "quality"}  # quality: the score, joined
    fields = {f.name for f in dataclasses.fields(DatasetView)} - made
    assert fields == set(VIEW_COLUMNS)
