"""The catalogue: organisations, datasets, resources, layers, code, reuses and events."""
