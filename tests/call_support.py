"""A call for projects to test with, and PDF files, kind and hostile.

`build_call(backend)` makes organisation A (`province-sud`, organiser) and B, a public
dataset `communes` and a draft one `brouillon` of A, an event `appel-2027` of kind
call_for_projects with its call open now (criteria « Impact » and « Faisabilité »,
`communes` put forward), and the people: `lead` and `teammate` (one team), `rival`
(another applicant), `editor_a` (organiser), `editor_b`, `admin` (platform), each with a
`write` token (`site.tokens[name]`) and no password (no Argon2 hashing: `session_cookie`
signs them in).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from niaouli.accounts import tokens, users
from niaouli.accounts.resolve import viewer_for_user
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community import calls, events
from niaouli.catalogue.community.call_tables import Call
from niaouli.catalogue.models import utcnow
from niaouli.db.engine import writing
from tests.conftest import Backend

ORG_A, ORG_B = "province-sud", "province-iles"
EVENT = "appel-2027"
PEOPLE = {
    "lead": None,
    "teammate": None,
    "rival": None,
    "editor_a": (ORG_A, "editor"),
    "editor_b": (ORG_B, "editor"),
    "admin": "platform",
}
SUMMARY = "Une application qui montre les communes et leurs services aux habitants."


def email_of(name: str) -> str:
    return f"{name.replace('_', '-')}@exemple.nc"


@dataclass
class CallSite:
    backend: Backend
    user_ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def viewer(self, session: Session, name: str) -> Viewer:
        if name == "anonymous":
            return Viewer.anonymous()
        return viewer_for_user(session, users.get_user(session, email_of(name)))

    def set_dates(self, opens: timedelta, deadline: timedelta) -> None:
        """Moves the call's dates relative to now (no sleeping)."""
        now = utcnow()
        with Session(writing(self.backend.engine)) as session, session.begin():
            session.execute(update(Call).values(opens_at=now + opens, deadline_at=now + deadline))

    def close(self) -> None:
        self.set_dates(timedelta(days=-30), timedelta(minutes=-1))


def build_call(backend: Backend) -> CallSite:
    site = CallSite(backend)
    with Session(writing(backend.engine)) as session, session.begin():
        orgs = {
            slug: service.create_organisation(session, slug, name, "province")
            for slug, name in ((ORG_A, "Province Sud"), (ORG_B, "Province des Îles"))
        }
        service.create_dataset(session, orgs[ORG_A], "communes", "Communes", access_level="public")
        service.create_dataset(session, orgs[ORG_A], "brouillon", "Brouillon", access_level="draft")
        for name, role in PEOPLE.items():
            user = users.create_user(session, email_of(name), f"Nom {name}", None)
            if role == "platform":
                user.is_platform_admin = True
            elif role is not None:
                users.set_membership(session, orgs[role[0]], user, role[1])
            session.flush()
            site.user_ids[name] = user.id
            site.tokens[name] = tokens.create_token(session, user, "write", "write")[1]
        system = Viewer.system()
        event = events.add_event(
            session, system, ORG_A, "Appel à projets 2027", "call_for_projects",
            "2027-01-15 08:00", slug=EVENT,
        )  # fmt: skip
        now = utcnow()
        calls.configure_call(
            session,
            system,
            event,
            rules="Ouvert à tous les habitants. Projets sous licence libre.",
            criteria=["Impact", "Faisabilité"],
            opens=(now - timedelta(days=1)).isoformat(),
            deadline=(now + timedelta(days=10)).isoformat(),
            jury=(now + timedelta(days=20)).isoformat(),
            results=(now + timedelta(days=30)).isoformat(),
            dataset_slugs=["communes"],
        )
    return site


def session_cookie(backend: Backend, name: str) -> tuple[str, str]:
    """The portal's session cookie (name, value) for `name`, as a sign-in would set it."""
    from niaouli.accounts import sessions
    from niaouli.accounts.resolve import SESSION_COOKIE, session_signer
    from niaouli.accounts.secrets import secret_key

    with Session(writing(backend.engine)) as session, session.begin():
        secret = sessions.start(session, users.get_user(session, email_of(name)))
    signed = session_signer(secret_key(backend.settings)).sign(secret).decode("ascii")
    return SESSION_COOKIE, signed


# --- PDF files --------------------------------------------------------------------------


def pdf(*extra_objects: bytes, catalog_extra: bytes = b"", trailer_extra: bytes = b"") -> bytes:
    """A small one-page PDF; `extra_objects` are numbered from 4."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        *extra_objects,
    ]
    out = b"%PDF-1.7\n"
    for number, body in enumerate(objects, 1):
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    out += b"trailer\n<< /Root 1 0 R /Size %d " % (len(objects) + 1)
    return out + trailer_extra + b">>\n%%EOF\n"


def compressed_stream(text: bytes, dictionary: bytes = b"") -> bytes:
    packed = zlib.compress(text)
    return (
        b"<< /Filter /FlateDecode /Length %d " % len(packed)
        + dictionary
        + b">>\nstream\n"
        + packed
        + b"\nendstream"
    )


GOOD_PDF = pdf()
HOSTILE_PDFS = {
    "not-pdf": b"MZ\x90\x00 pas un PDF %%EOF",
    "javascript": pdf(
        b"<< /S /JavaScript /JS (app.alert(1)) >>", catalog_extra=b"/OpenAction 4 0 R "
    ),
    "javascript-escaped": pdf(b"<< /S /J#61vaScript /JS (x) >>"),
    "javascript-hidden": pdf(
        compressed_stream(b"5 0 << /S /JavaScript /JS (x) >>", b"/Type /ObjStm /N 1 /First 4 ")
    ),
    "launch": pdf(b"<< /S /Launch /F (cmd.exe) >>", catalog_extra=b"/OpenAction 4 0 R "),
    "embedded": pdf(b"<< /EmbeddedFiles << /Names [(a.exe) 5 0 R] >> >>"),
    "encrypted": pdf(
        b"<< /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>",
        trailer_extra=b"/Encrypt 4 0 R ",
    ),
}
