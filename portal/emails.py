"""The texts of the messages the portal mails (niaouli/mail.py sends them).

Each function returns (subject, body) in the language of the request that causes the
message; plain text, no HTML, no tracking.
"""

from __future__ import annotations

from niaouli.i18n import _

SIGNATURE = "\n\n-- \nNiaouli"


def reset_link(name: str, link: str) -> tuple[str, str]:
    return _("Niaouli : choisir un nouveau mot de passe"), _(
        "Bonjour %(name)s,\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable "
        "une heure, une seule fois) :\n\n%(link)s\n\nSi vous n'avez rien demandé, ignorez ce "
        "message : votre mot de passe ne change pas."
    ) % {"name": name, "link": link} + SIGNATURE


def verify_address(name: str, link: str) -> tuple[str, str]:
    return _("Niaouli : confirmez votre adresse électronique"), _(
        "Bonjour %(name)s,\n\nPour confirmer votre adresse et ouvrir votre compte Niaouli, "
        "ouvrez ce lien (valable 48 heures) :\n\n%(link)s\n\nSi vous n'avez pas créé de "
        "compte, ignorez ce message : sans confirmation, le compte reste fermé."
    ) % {"name": name, "link": link} + SIGNATURE


def already_registered(site: str) -> tuple[str, str]:
    return _("Niaouli : vous avez déjà un compte"), _(
        "Bonjour,\n\nQuelqu'un (vous, sans doute) a voulu créer un compte Niaouli avec "
        "cette adresse, qui en a déjà un. Connectez-vous : %(site)s/connexion\n\nMot de "
        "passe oublié ? Choisissez-en un nouveau : %(site)s/mot-de-passe-oublie\n\nSi ce "
        "n'était pas vous, ignorez ce message : rien n'a changé."
    ) % {"site": site.rstrip("/")} + SIGNATURE


def membership_decision(
    name: str, organisation: str, accepted: bool, role: str, site: str
) -> tuple[str, str]:
    values = {"name": name, "organisation": organisation, "role": role, "site": site.rstrip("/")}
    if accepted:
        return _("Niaouli : demande acceptée (%(organisation)s)") % values, _(
            "Bonjour %(name)s,\n\nVotre demande pour rejoindre « %(organisation)s » a été "
            "acceptée : vous en êtes %(role)s.\n\nVotre compte : %(site)s/compte"
        ) % values + SIGNATURE
    return _("Niaouli : demande refusée (%(organisation)s)") % values, _(
        "Bonjour %(name)s,\n\nVotre demande pour rejoindre « %(organisation)s » n'a pas été "
        "acceptée par ses administrateurs.\n\nVotre compte : %(site)s/compte"
    ) % values + SIGNATURE


def membership_request(name: str, organisation: str, role: str, page: str) -> tuple[str, str]:
    values = {"name": name, "organisation": organisation, "role": role, "page": page}
    return _("Niaouli : demande pour rejoindre %(organisation)s") % values, _(
        "Bonjour,\n\n%(name)s demande à rejoindre « %(organisation)s » comme %(role)s. "
        "Acceptez ou refusez la demande sur la page des membres :\n\n%(page)s"
    ) % values + SIGNATURE
