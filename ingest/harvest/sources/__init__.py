"""The built-in source types, one module each (see `niaouli.ingest.harvest.registry`)."""
