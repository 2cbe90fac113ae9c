"""CSW service package."""
