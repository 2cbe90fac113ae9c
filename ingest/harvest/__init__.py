"""Harvesting: gather datasets and code projects from where administrations publish them.

A *source* (`models.HarvestSource`) belongs to an organisation and names a remote of one
type (CSW, DCAT, OAI-PMH, CKAN, ArcGIS...). A *job* enumerates the remote through its
plug-in (`sources`), writes one catalogue record per remote record keyed by
(source, remote identifier), and reports per record what it did. See docs/harvest.md.
"""
