"""The public portal (French pages)."""
