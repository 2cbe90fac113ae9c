"""Services: the standard interfaces over the catalogue (OGC API at /ogc, CSW at /csw)."""
