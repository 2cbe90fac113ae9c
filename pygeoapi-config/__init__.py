"""Package data, not code: the committed pygeoapi configuration (`base.yml`, `templates/`,
`locale/`), installed as `niaouli.pygeoapi_config` (see niaouli/resources.py)."""
