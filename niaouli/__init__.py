"""Niaouli: the open data platform of New Caledonia."""

__version__ = "0.2.0.dev0"
