"""Ingestion, step 1 — plan: what the file is and where it goes, decided before loading.

`plan_ingestion` runs before the transaction: it sniffs the file (never trusting its
name), checks the organisation and the dataset slug, and returns an `IngestPlan`.
`resolve_target` runs first inside the transaction: it locks the dataset row, names the
layers and collections, and, for an append, finds the existing layer each source joins.
Nothing here writes; a refusal raises `IngestError` (or `UnconfirmedChangeError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli.catalogue import service
from niaouli.catalogue.models import AccessLevel, Dataset, Layer, RasterLayer
from niaouli.i18n import _
from niaouli.ingest.confirm import check_not_sent_before
from niaouli.ingest.errors import IngestError
from niaouli.ingest.sniff import FORMAT_LABELS, MEDIA_TYPES, check_local_path, identify
from niaouli.ingest.source import LayerSource

MODES = ("replace", "append")


@dataclass(frozen=True)
class IngestOptions:
    """What the caller asks for (the keyword arguments of `ingest_file`)."""

    dataset: str | None = None
    title: str | None = None
    description: str | None = None
    crs: str | None = None
    access_level: str | AccessLevel | None = None
    original_name: str | None = None
    mode: str = "replace"
    sheet: str | None = None
    confirm: bool = True
    keep_version: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise IngestError(
                _("mode inconnu « %(mode)s » (attendu : replace ou append)") % {"mode": self.mode}
            )


@dataclass(frozen=True)
class IngestPlan:
    """One checked ingestion: the file, its sniffed format, the organisation and slug."""

    path: Path
    display_name: str
    kind: str
    organisation_id: int
    slug: str
    options: IngestOptions

    @property
    def format_label(self) -> str:
        return FORMAT_LABELS[self.kind]

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.kind]


def plan_ingestion(
    path: str | Path, organisation: str, options: IngestOptions, engine: Engine
) -> IngestPlan:
    """Check the request and sniff the file; nothing is written."""
    source_path = check_local_path(path)
    original = options.original_name
    display_name = Path(original).name if original else source_path.name
    kind = identify(source_path, display_name)

    with Session(engine) as lookup:
        try:
            org = service.get_organisation(lookup, organisation)
        except service.NotFoundError as exc:
            raise IngestError(str(exc)) from None
        org_id = org.id
    slug = options.dataset or service.make_slug(options.title or Path(display_name).stem)
    try:
        service.check_dataset_slug(slug)
    except service.CatalogueError as exc:
        raise IngestError(str(exc)) from None
    return IngestPlan(source_path, display_name, kind, org_id, slug, options)


@dataclass
class Target:
    """The dataset a file goes into, as read (and locked) inside the transaction."""

    dataset: Dataset | None  # None: the ingestion creates it
    names: list[tuple[str, str]]  # (layer name, collection id) of each source
    appended_to: list[Layer | None]  # the existing layer each source's rows join
    appending: bool

    @property
    def created(self) -> bool:
        return self.dataset is None


def resolve_target(
    session: Session, plan: IngestPlan, sources: list[LayerSource], checksum: str
) -> Target:
    """Lock the dataset row and decide each source's layer name and collection id."""
    slug, options = plan.slug, plan.options
    dataset = session.scalar(select(Dataset).where(Dataset.slug == slug).with_for_update())
    if dataset is not None and dataset.organisation_id != plan.organisation_id:
        raise IngestError(
            _("le jeu de données « %(slug)s » appartient à une autre organisation") % {"slug": slug}
        )

    names = layer_names(sources, slug)
    appending = options.mode == "append" and dataset is not None and bool(dataset.layers)
    if appending and not options.confirm:
        check_not_sent_before(dataset, checksum)
    targets: list[Layer | None] = (
        list(append_targets(sources, names, dataset)) if appending else [None] * len(sources)
    )
    if appending:  # the rows join existing layers: same names and collections
        names = [(old.name, old.collection_id) for old in targets]
    taken = list(
        session.scalars(
            select(Layer.collection_id).where(
                Layer.collection_id.in_([c for _, c in names]),
                Layer.dataset_id != (dataset.id if dataset else -1),
            )
        )
    )
    # Rasters share the /ogc/collections namespace: none may answer to these ids either.
    taken += session.scalars(
        select(RasterLayer.collection_id).where(
            RasterLayer.collection_id.in_([c for _, c in names])
        )
    ).all()
    if taken:
        raise IngestError(
            _("identifiant de collection déjà pris par un autre jeu : %(id)s") % {"id": taken[0]}
        )
    return Target(dataset, names, targets, appending)


def layer_names(sources: list[LayerSource], dataset_slug: str) -> list[tuple[str, str]]:
    """(layer name, collection id) for each source; one layer takes the dataset's slug."""
    names: list[tuple[str, str]] = []
    seen: set[str] = set()
    for source in sources:
        base = service.make_slug(source.name, max_length=60) or "couche"
        name, counter = base, 1
        while name in seen:
            counter += 1
            name = f"{base}-{counter}"
        seen.add(name)
        collection = dataset_slug if len(sources) == 1 else f"{dataset_slug}-{name}"
        names.append((name, collection))
    return names


def append_targets(
    sources: list[LayerSource], names: list[tuple[str, str]], dataset: Dataset
) -> list[Layer]:
    """The existing layer each source's rows are added to (one to one, else by name)."""
    layers = list(dataset.layers)
    if len(sources) == 1 and len(layers) == 1:
        return layers
    by_name = {layer.name: layer for layer in layers}
    targets = [by_name.get(name) for name, _ in names]
    if None in targets or len(set(map(id, targets))) != len(targets):
        known = ", ".join(sorted(by_name)) or _("aucune")
        raise IngestError(
            _(
                "ajout impossible : les couches du fichier ne correspondent pas à celles du "
                "jeu de données (couches existantes : %(known)s)"
            )
            % {"known": known}
        )
    return targets  # type: ignore[return-value]
