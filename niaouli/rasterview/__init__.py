"""Showing rasters: map tiles, colour ramps and legends, previews, point values.

Pure functions over an open rasterio dataset (a COG, local or on S3): the OGC API
(`services/ogc/raster_tile_routes.py`) and the portal (the map's point query, the dataset
page's preview) both use them, so they live in the core.
"""
