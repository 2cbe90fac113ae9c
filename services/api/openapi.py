"""The OpenAPI 3.1 document, built from the operations and their pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from niaouli.services.api import schemas
from niaouli.services.api.core import Operation

STATUS_TEXT = {
    400: "Requête mal formée",
    401: "Identification requise (session ou jeton)",
    403: "Interdit pour ces identifiants",
    404: "Introuvable (ou non visible pour vous)",
    409: "Conflit avec l'existant",
    413: "Trop gros",
    415: "Type de contenu non pris en charge",
    422: "Données refusées",
}
REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def document(operations: list[Operation]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    error = {"application/json": {"schema": _schema(schemas.Error, components)}}
    paths: dict[str, Any] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_names(op.path)
        ] + op.query
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(op.body, components)}},
            }
        elif op.upload or op.raw_body:
            upload = {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "contentMediaType": "application/octet-stream"},
                    "title": {"type": "string"},
                    **(
                        {
                            "crs": {"type": "string", "description": "EPSG:xxxx de la source"},
                            "sheet": {
                                "type": "string",
                                "description": "feuille d'un classeur XLSX/ODS (nom ou numéro)",
                            },
                            "confirm": {"type": "string", "enum": ["true"]},
                        }
                        if op.upload
                        else {}
                    ),
                },
                "required": ["file"],
            }
            content: dict[str, Any] = {"multipart/form-data": {"schema": upload}}
            if op.raw_body:
                content["application/json"] = {"schema": _schema(schemas.LinkCreate, components)}
            entry["requestBody"] = {"required": True, "content": content}
        success: dict[str, Any] = {"description": "Succès"}
        if op.response is not None:
            success["content"] = {"application/json": {"schema": _schema(op.response, components)}}
        else:
            success["content"] = {"application/json": {"schema": {"type": ["object", "array"]}}}
        responses = {str(op.status): success}
        if op.accepted is not None:
            responses["202"] = {
                "description": "Accepté : tâche de fond créée (en-têtes Location, Retry-After)",
                "content": {"application/json": {"schema": _schema(op.accepted, components)}},
            }
        for status in op.errors:
            responses[str(status)] = {"description": STATUS_TEXT[status], "content": error}
        entry["responses"] = responses
        if op.writes:
            entry["security"] = [{"jeton": []}, {"session": []}]
        paths.setdefault("/api" + op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Niaouli — API du portail",
            "version": "1.0.0",
            "description": (
                "Lire le catalogue et aller jusqu'aux données : chaque jeu de données donne "
                "l'adresse de téléchargement de ses fichiers et ses liens (`links` : page, "
                "collections et objets OGC API Features, tuiles vectorielles, exports par "
                "format, fiches CSW, OGC API Records et DCAT). Lecture libre de ce qui est "
                "public, aussi depuis une page d'un autre site (CORS, sans cookie). Créer et "
                "modifier organisations, jeux de données, fichiers, couches, projets de code, "
                "réutilisations et événements avec un jeton « écriture » (Authorization: "
                "Bearer) ou la session du navigateur avec l'en-tête X-CSRF-Token."
            ),
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "jeton": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "niaouli_session"},
            },
        },
    }


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
