"""`niaouli user ...` and `niaouli org member ...`: accounts from the command line.

The command line is the operator's tool (it has the database), so it lists e-mail
addresses; no public page or API does.
"""

from __future__ import annotations

import sys

import click
from sqlalchemy.orm import Session

from niaouli.accounts import audit, memberships, selfservice, tokens, users
from niaouli.accounts.account_tables import Role
from niaouli.accounts.users import ROLE_LABELS, AccountError
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.db.engine import get_engine, writing

SYSTEM = Viewer.system()  # the command line may do everything


def _fail(message: str) -> None:
    click.secho(f"erreur : {message}", fg="red", err=True)
    sys.exit(1)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Mot de passe", hide_input=True, confirmation_prompt="Confirmation")


@click.group(help="Comptes utilisateurs et jetons d'accès.")
def user() -> None:
    pass


@user.command("create", help="Crée un compte (mot de passe demandé, ou lu sur l'entrée).")
@click.argument("email")
@click.option("--name", help="Nom affiché (par défaut : le début de l'adresse).")
@click.option("--password-stdin", is_flag=True, help="Lit le mot de passe sur l'entrée standard.")
@click.option("--admin", is_flag=True, help="Administrateur de la plateforme.")
def user_create(email: str, name: str | None, password_stdin: bool, admin: bool) -> None:
    password = _read_password(password_stdin)
    try:
        with Session(writing(get_engine())) as session, session.begin():
            created = selfservice.create_account(
                session, audit.COMMAND_LINE, email, name or email.split("@")[0], password, admin
            )
            label = f"{created.email} (administrateur)" if admin else created.email
    except AccountError as exc:
        _fail(str(exc))
    click.echo(f"compte créé : {label}")


@user.command("promote", help="Fait d'un compte un administrateur de la plateforme.")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Retire ce rôle au lieu de le donner.")
def user_promote(email: str, revoke: bool) -> None:
    try:
        with Session(writing(get_engine())) as session, session.begin():
            selfservice.set_platform_admin(session, audit.COMMAND_LINE, email, not revoke)
    except AccountError as exc:
        _fail(str(exc))
    click.echo(f"{email} : {"n'est plus" if revoke else 'est'} administrateur de la plateforme")


@user.command("disable", help="Désactive un compte (connexion et jetons refusés).")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Réactive le compte.")
def user_disable(email: str, enable: bool) -> None:
    try:
        with Session(writing(get_engine())) as session, session.begin():
            selfservice.set_active(session, audit.COMMAND_LINE, email, enable)
    except AccountError as exc:
        _fail(str(exc))
    click.echo(f"compte {'réactivé' if enable else 'désactivé'} : {email}")


@user.command("password", help="Change le mot de passe d'un compte.")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Lit le mot de passe sur l'entrée standard.")
def user_password(email: str, password_stdin: bool) -> None:
    password = _read_password(password_stdin)
    try:
        with Session(writing(get_engine())) as session, session.begin():
            selfservice.set_password(session, audit.COMMAND_LINE, email, password)
    except AccountError as exc:
        _fail(str(exc))
    click.echo(f"mot de passe changé : {email}")


@user.command("list", help="Liste les comptes (adresse, nom, rôles).")
def user_list() -> None:
    with Session(get_engine()) as session:
        for item in users.list_users(session):
            roles = ", ".join(f"{m.organisation.slug}:{m.role.value}" for m in item.memberships)
            flags = ("admin " if item.is_platform_admin else "") + (
                "" if item.is_active else "désactivé"
            )
            click.echo(f"{item.email}\t{item.display_name}\t{flags.strip() or '-'}\t{roles or '-'}")


@user.group("token", help="Jetons d'accès personnels (API, QGIS, GDAL).")
def token() -> None:
    pass


@token.command("create", help="Crée un jeton ; son secret n'est affiché qu'une fois.")
@click.argument("email")
@click.option("--name", required=True, help="À quoi sert le jeton (ex. « QGIS bureau »).")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True)
def token_create(email: str, name: str, scope: str) -> None:
    try:
        with Session(writing(get_engine())) as session, session.begin():
            owner = users.get_user(session, email)
            created, secret = selfservice.create_token(
                session, audit.COMMAND_LINE, owner, name, scope, subject=owner.email
            )
            prefix = created.prefix
    except AccountError as exc:
        _fail(str(exc))
    click.echo(secret)
    click.echo(
        f"jeton « {name} » ({scope}, {prefix}…) créé : copiez-le maintenant, il ne sera "
        "plus affiché",
        err=True,
    )


@token.command("list", help="Liste les jetons d'un compte (sans leur secret).")
@click.argument("email")
def token_list(email: str) -> None:
    with Session(get_engine()) as session:
        try:
            owner = users.get_user(session, email)
        except AccountError as exc:
            _fail(str(exc))
        for item in tokens.list_tokens(session, owner):
            state = "révoqué" if item.revoked_at else "actif"
            used = item.last_used_at.isoformat(timespec="minutes") if item.last_used_at else "-"
            click.echo(
                f"{item.id}\t{item.prefix}…\t{item.scope.value}\t{state}\t{used}\t{item.name}"
            )


@token.command("revoke", help="Révoque un jeton (par numéro ou début visible).")
@click.argument("email")
@click.argument("token_ref")
def token_revoke(email: str, token_ref: str) -> None:
    try:
        with Session(writing(get_engine())) as session, session.begin():
            owner = users.get_user(session, email)
            revoked = selfservice.revoke_token(
                session, audit.COMMAND_LINE, owner, token_ref, subject=owner.email
            )
            label = f"{revoked.prefix}… « {revoked.name} »"
    except AccountError as exc:
        _fail(str(exc))
    click.echo(f"jeton révoqué : {label}")


@click.group(help="Membres d'une organisation et leurs rôles (admin, editor, member).")
def member() -> None:
    pass


@member.command("add", help="Ajoute un membre (ou change son rôle).")
@click.argument("organisation")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.MEMBER.value)
def member_add(organisation: str, email: str, role: str) -> None:
    try:
        with Session(writing(get_engine())) as session, session.begin():
            org = service.get_organisation(session, organisation)
            member_user = users.get_user(session, email)
            memberships.set_member(session, SYSTEM, audit.COMMAND_LINE, org, member_user, role)
    except (AccountError, service.CatalogueError) as exc:
        _fail(str(exc))
    click.echo(f"{email} : {ROLE_LABELS[users.parse_role(role)]} de {organisation}")


@member.command("remove", help="Retire un membre de l'organisation.")
@click.argument("organisation")
@click.argument("email")
def member_remove(organisation: str, email: str) -> None:
    try:
        with Session(writing(get_engine())) as session, session.begin():
            org = service.get_organisation(session, organisation)
            member_user = users.get_user(session, email)
            memberships.remove_member(session, SYSTEM, audit.COMMAND_LINE, org, member_user)
    except (AccountError, service.CatalogueError) as exc:
        _fail(str(exc))
    click.echo(f"{email} n'est plus membre de {organisation}")


@member.command("list", help="Liste les membres d'une organisation et leurs rôles.")
@click.argument("organisation")
def member_list(organisation: str) -> None:
    with Session(get_engine()) as session:
        try:
            org = service.get_organisation(session, organisation)
        except service.CatalogueError as exc:
            _fail(str(exc))
        for item in users.list_members(session, org):
            click.echo(f"{item.user.email}\t{item.role.value}\t{item.user.display_name}")


@click.group(help="Journal d'audit (comptes, membres, jetons, publication).")
def audit_group() -> None:
    pass


@audit_group.command("list", help="Affiche les derniers événements, du plus récent au plus ancien.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--org", "organisation", help="Seulement ceux de cette organisation.")
def audit_list(limit: int, organisation: str | None) -> None:
    from niaouli.accounts.account_tables import User
    from niaouli.catalogue.models import Organisation

    with Session(get_engine()) as session:
        org_id = None
        if organisation:
            try:
                org_id = service.get_organisation(session, organisation).id
            except service.CatalogueError as exc:
                _fail(str(exc))
        for event in audit.list_events(session, limit, org_id):
            actor = session.get(User, event.actor_id) if event.actor_id else None
            org = (
                session.get(Organisation, event.organisation_id) if event.organisation_id else None
            )
            details = " ".join(f"{k}={v}" for k, v in sorted((event.details or {}).items()))
            click.echo(
                "\t".join(
                    [
                        event.at.isoformat(timespec="seconds"),
                        event.action,
                        actor.email if actor else "-",
                        event.via,
                        org.slug if org else "-",
                        event.subject or "-",
                        event.client or "-",
                        details or "-",
                    ]
                )
            )


def register(main: click.Group, org: click.Group) -> None:
    main.add_command(user)
    main.add_command(audit_group, name="audit")
    org.add_command(member)
