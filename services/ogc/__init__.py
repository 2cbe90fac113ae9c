"""OGC service package."""
