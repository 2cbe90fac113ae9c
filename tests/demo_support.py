"""What `niaouli demo load` publishes, for the tests that list the demo's datasets."""

from __future__ import annotations

DEMO_FILES = ("communes-nc", "population-communes-nc")
BATHING = ("baignade-noumea-points", "baignade-noumea-releves", "baignade-noumea-etat")
# The two records of the demo's harvest (geodata/harvest/, replayed by demo_harvest.py).
DEMO_HARVESTED = ("suvim-station-network-wms", "csw-suchdienst-der-zamg")
# Their CSW identifiers (harvested ISO records keep their own fileIdentifier).
DEMO_HARVESTED_IDS = (
    "8dad9c98-0512-4845-a2bf-3ace1c93df6f",
    "eeae2de7-0a09-4b69-b7a0-0b6b20903fd5",
)
DEMO_PUBLIC = frozenset({*DEMO_FILES, *BATHING, *DEMO_HARVESTED})
