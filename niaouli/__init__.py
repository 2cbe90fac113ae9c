"""Niaouli: the open data platform of New Caledonia."""

__version__ = "0.1.0"
