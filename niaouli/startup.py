"""What a process of the platform installs at start-up: the composition root's one call.

Nothing is installed by importing a module. The web app (`niaouli.web.create_app`), the
command line (`niaouli.cli.main`) and the test suite call `install()` before they touch
the catalogue; it wires the layers that may not import each other:

- the catalogue's change tracking on its own sessions (`niaouli.catalogue.changes`) and
  the derived views kept inside every writing transaction, in this order: the search
  text (`catalogue.search.text`), the full-text index (`catalogue.search.fulltext`), the
  quality scores (`catalogue.quality_store`), the CSW records
  (`services.csw.sync`, a service the core may not import);
- the background jobs defined above the core (`niaouli.jobs.registry`): the harvests
  (`ingest.harvest.launch.install`), the layer exports (`niaouli.export_jobs.install`),
  the campaign merges (`catalogue.campaigns.merge_job.install`) and the link checks of the
  quality score (`ingest.linkcheck.install`);
- and, in the web app only, pygeoapi's adjustments (`install_pygeoapi`), which patch
  pygeoapi's modules for the whole process.

GDAL's network guard (`niaouli.gdalguard.install`) stays with the code that opens files
(ingestion, previews) as well, since a library user may call those alone.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_done = False


def install() -> None:
    """Install the hooks and patches once per process (idempotent, thread-safe)."""
    global _done
    with _lock:
        if _done:
            return
        from niaouli import export_jobs
        from niaouli.catalogue import changes, quality_store
        from niaouli.catalogue.campaigns import merge_job as campaign_merge
        from niaouli.catalogue.partners import listing as partner_listing
        from niaouli.catalogue.search import fulltext
        from niaouli.catalogue.search import text as search
        from niaouli.ingest import linkcheck, upload_jobs
        from niaouli.ingest.harvest import launch
        from niaouli.services.csw import sync as csw_sync

        changes.install()
        search.install()
        fulltext.install()
        quality_store.install()  # before the CSW records, which carry the score
        partner_listing.set_quality_scorer(quality_store.public_averages)  # /partenaires
        csw_sync.install()
        launch.install()  # the harvest jobs (niaouli.jobs), defined in ingest/
        export_jobs.install()  # layer exports prepared in the background
        upload_jobs.install()  # large uploads ingested in the background (ingest/)
        campaign_merge.install()  # the campaign merge job
        linkcheck.install()  # the quality score's link checks (ingest/), daily
        _done = True


def install_pygeoapi() -> None:
    """pygeoapi's adjustments (documented in their modules): `to_json` writing JSON as
    JSON, memoised CRS objects. Called by the web app once pygeoapi's modules are loaded
    (`jsonout` patches the loaded ones), before `/ogc` is created; idempotent."""
    from niaouli.services.ogc import crscache, jsonout

    jsonout.install()
    crscache.install()
