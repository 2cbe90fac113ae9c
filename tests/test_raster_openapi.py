"""The raster collections' OpenAPI paths are valid OpenAPI 3.0 (what Swagger UI, QGIS's
and code generators read), checked offline with openapi-spec-validator."""

from __future__ import annotations

from openapi_spec_validator import validate

from niaouli.services.ogc.raster_discovery import OpenApiWithRasters, raster_paths


def test_raster_paths_are_valid_openapi():
    document = {
        "openapi": "3.0.2",
        "info": {"title": "Niaouli", "version": "1"},
        "paths": {},
    }
    merged = OpenApiWithRasters().document(document, [("mnt-noumea", "MNT « Nouméa »")])
    validate(merged)
    assert set(merged["paths"]) == set(raster_paths("mnt-noumea", "x"))
    assert document["paths"] == {}  # the API object's own document is left as it was
    operations = [op["operationId"] for item in merged["paths"].values() for op in item.values()]
    assert len(operations) == len(set(operations))


def test_the_merged_document_is_kept_until_the_rasters_change():
    kept = OpenApiWithRasters()
    base = {"openapi": "3.0.2", "info": {"title": "t", "version": "1"}, "paths": {}}
    first = kept.document(base, [("a", "A")])
    assert kept.document(base, [("a", "A")]) is first
    assert "/collections/b/coverage" in kept.document(base, [("a", "A"), ("b", "B")])["paths"]
