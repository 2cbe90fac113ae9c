"""Rasters: Cloud Optimized GeoTIFFs in storage (issue 19)."""
