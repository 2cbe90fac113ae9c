"""The writing JSON API at /api (OpenAPI document at /api/openapi.json). See docs/api.md."""
