"""An administration's open-data contacts: a role and a functional address, never a
person's own address.

The programme publishes these contacts; a person's address would be personal data
published without need, and it stops working when they leave. So an address is refused
when it is a platform account's sign-in address, when it sits at a personal mailbox
provider, or when its local part reads as a first and last name ("jean.dupont",
"j-dupont") without any word of a function in it ("opendata", "sig", "donnees"...).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.accounts.account_tables import User
from niaouli.accounts.users import EMAIL_RE
from niaouli.errors import CatalogueError
from niaouli.i18n import _

MAX_CONTACTS = 5
ROLE_MAX = 120
# Personal mailbox providers (worldwide, and New Caledonia's own).
PERSONAL_DOMAINS = {
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "hotmail.fr",
    "outlook.com",
    "outlook.fr",
    "live.fr",
    "live.com",
    "yahoo.com",
    "yahoo.fr",
    "icloud.com",
    "me.com",
    "proton.me",
    "protonmail.com",
    "laposte.net",
    "orange.fr",
    "free.fr",
    "sfr.fr",
    "wanadoo.fr",
    "gmx.fr",
    "gmx.com",
    "lagoon.nc",
    "mls.nc",
    "canl.nc",
    "offratel.nc",
}
# Words of a function: an address holding one is a role's, whatever else it holds.
ROLE_WORDS = {
    "opendata",
    "open",
    "data",
    "donnees",
    "donnee",
    "contact",
    "contacts",
    "info",
    "infos",
    "sig",
    "geomatique",
    "carto",
    "cartographie",
    "service",
    "services",
    "dsi",
    "numerique",
    "stat",
    "stats",
    "statistiques",
    "accueil",
    "secretariat",
    "direction",
    "mairie",
    "cil",
    "dpo",
    "rgpd",
    "communication",
    "webmestre",
    "webmaster",
    "admin",
    "support",
    "geo",
    "georep",
    "cellule",
    "mission",
    "pole",
    "bureau",
}
NAME_PARTS = re.compile(r"^([a-z]+)[._-]([a-z]+)(?:[._-]?\d*)$")


def looks_personal(email: str) -> bool:
    """True for a personal mailbox or a "first.last"-shaped address with no role word."""
    local, _at, domain = email.lower().rpartition("@")
    if domain in PERSONAL_DOMAINS:
        return True
    words = set(re.split(r"[._+-]+", local))
    if any(w.rstrip("0123456789") in ROLE_WORDS for w in words):
        return False
    return NAME_PARTS.match(local) is not None


def check(session: Session, contacts: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The contacts as stored ([{"role", "email"}]), or a CatalogueError saying which
    one is refused and why."""
    if len(contacts) > MAX_CONTACTS:
        raise CatalogueError(_("%(max)s contacts au plus") % {"max": MAX_CONTACTS})
    checked: list[dict[str, str]] = []
    for contact in contacts:
        role = " ".join(str(contact.get("role") or "").split())
        email = str(contact.get("email") or "").strip().lower()
        if not role and not email:
            continue
        if not role or len(role) > ROLE_MAX:
            raise CatalogueError(
                _("chaque contact a une fonction (%(max)s caractères au plus)") % {"max": ROLE_MAX}
            )
        if len(email) > 320 or not EMAIL_RE.match(email):
            raise CatalogueError(
                _("adresse électronique invalide : « %(email)s »") % {"email": email[:100]}
            )
        if looks_personal(email) or session.scalar(select(User.id).where(User.email == email)):
            raise CatalogueError(
                _(
                    "« %(email)s » semble être l'adresse d'une personne : indiquez une adresse "
                    "de fonction (par exemple opendata@…), publiée avec le rôle du contact"
                )
                % {"email": email}
            )
        checked.append({"role": role, "email": email})
    return checked
