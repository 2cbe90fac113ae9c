"""`github` / `gitlab`: an organisation's public repositories become code projects.

For each repository: description, licence, languages, topics, last activity, latest
releases and, when the repository has one at its root, `publiccode.yml` (the Italian /
EU standard description of public software), which takes precedence for the name,
description, licence and development status. Forks and archived repositories are
skipped unless `forks=true` / `archived=true`.

GitHub: the URL is `https://github.com/ORG` (API at api.github.com, files at
raw.githubusercontent.com) or an API URL `https://HOST/api/v3/orgs/ORG` (GitHub
Enterprise); options `api_url`, `raw_url`, `token` is never stored here (public data).
GitLab: the URL is `https://gitlab.example/GROUP` (subgroups included).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from niaouli.ingest.harvest.base import EnumerationError, Harvester, RecordFailure, RemoteRecord
from niaouli.ingest.harvest.fetch import FetchError

PER_PAGE = 100
MAX_PAGES = 1000
MAX_PUBLICCODE = 512 * 1024
STATUSES = {"concept", "development", "beta", "stable", "obsolete"}
# What of the forge's answer is kept as the original (topics and last activity have no
# column of their own in the catalogue yet).
GITHUB_KEPT = (
    "full_name",
    "description",
    "topics",
    "pushed_at",
    "html_url",
    "license",
    "language",
    "archived",
    "fork",
)
GITLAB_KEPT = (
    "path_with_namespace",
    "description",
    "topics",
    "tag_list",
    "last_activity_at",
    "web_url",
    "archived",
)


def read_publiccode(content: bytes) -> dict[str, Any]:
    """publiccode.yml as a mapping (safe YAML: no tags, no objects); {} when unusable."""
    if len(content) > MAX_PUBLICCODE:
        return {}
    try:
        data = yaml.safe_load(content.decode("utf-8", errors="replace"))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _publiccode_fields(publiccode: dict[str, Any], fields: dict[str, Any]) -> str | None:
    """Let publiccode.yml override the forge's fields; the project's name, if it gives one."""
    if not publiccode:
        return None
    descriptions = publiccode.get("description") or {}
    chosen = None
    if isinstance(descriptions, dict):
        chosen = (
            descriptions.get("fr")
            or descriptions.get("en")
            or next(iter(descriptions.values()), None)
        )
    if isinstance(chosen, dict):
        text = chosen.get("shortDescription") or chosen.get("longDescription")
        if text:
            fields["description"] = str(text).strip()
    legal = publiccode.get("legal") or {}
    if isinstance(legal, dict) and legal.get("license"):
        fields["licence"] = str(legal["license"])[:100]
    status = str(publiccode.get("developmentStatus") or "").lower()
    if status in STATUSES:
        fields["status"] = status
    name = publiccode.get("name")
    return str(name)[:300] if name else None


class _Forge(Harvester):
    options = {
        "forks": "true : garde aussi les dépôts forkés",
        "archived": "true : garde aussi les dépôts archivés (statut obsolète)",
    }

    def _json(self, url: str, what: str, params: dict[str, Any] | None = None) -> tuple[Any, Any]:
        try:
            response = self.fetcher.get(url, params=params, accept="application/json")
        except FetchError as exc:
            raise EnumerationError(f"{what} : {exc}") from None
        try:
            return json.loads(response.content), response.headers
        except ValueError as exc:
            raise EnumerationError(f"{what} : JSON illisible ({exc})") from None

    def _optional(self, url: str, params: dict[str, Any] | None = None) -> bytes | None:
        """A file that may be absent (404): None. Other failures raise FetchError."""
        try:
            return self.fetcher.get(url, params=params).content
        except FetchError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def _keep(self, fork: bool, archived: bool) -> bool:
        if fork and str(self.option("forks", "false")).lower() != "true":
            return False
        return not (archived and str(self.option("archived", "false")).lower() != "true")

    def _record(
        self,
        remote_id: str,
        name: str,
        repo: dict[str, Any],
        fields: dict[str, Any],
        publiccode_text: bytes | None,
        url: str,
        modified: str | None,
        archived: bool,
    ) -> RemoteRecord:
        publiccode = read_publiccode(publiccode_text) if publiccode_text else {}
        if archived:
            fields["status"] = "obsolete"
        title = _publiccode_fields(publiccode, fields) or name
        fields["publiccode"] = publiccode
        fields["repository_url"] = url
        original = {"repository": repo}
        if publiccode_text is not None:
            original["publiccode.yml"] = publiccode_text.decode("utf-8", errors="replace")
        return RemoteRecord(
            remote_id=remote_id[:500],
            title=title,
            kind="code_project",
            fields=fields,
            original=json.dumps(original, ensure_ascii=False, sort_keys=True),
            original_media_type="application/json",
            original_url=url,
            remote_modified=(modified or "")[:64] or None,
        )


class GitHubHarvester(_Forge):
    type = "github"
    options = {
        **_Forge.options,
        "api_url": "adresse de l'API (https://api.github.com par défaut)",
        "raw_url": "adresse des fichiers bruts (https://raw.githubusercontent.com par défaut)",
    }

    def _endpoints(self) -> tuple[str, str, str]:
        parts = urlsplit(self.config.url)
        path = parts.path.strip("/")
        if "/orgs/" in f"/{path}":
            api = self.config.url.split("/orgs/")[0]
            org = path.split("orgs/", 1)[1].split("/")[0]
        else:
            api = "https://api.github.com"
            org = path.split("/")[0]
        api = str(self.option("api_url", api)).rstrip("/")
        raw = str(self.option("raw_url", "https://raw.githubusercontent.com")).rstrip("/")
        if not org:
            raise EnumerationError("adresse GitHub sans organisation")
        return api, raw, org

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure]:
        api, raw, org = self._endpoints()
        info, _ = self._json(f"{api}/orgs/{org}", f"organisation GitHub {org}")
        if not isinstance(info, dict) or "login" not in info:
            raise EnumerationError(f"organisation GitHub {org} : réponse inattendue")
        count = 0
        for page in range(1, MAX_PAGES):
            what = f"page {page} des dépôts de {org}"
            repos, _ = self._json(
                f"{api}/orgs/{org}/repos",
                what,
                {"type": "public", "per_page": PER_PAGE, "page": page, "sort": "full_name"},
            )
            if not isinstance(repos, list):
                raise EnumerationError(f"{what} : liste attendue")
            count += len(repos)
            for repo in repos:
                if not self._keep(bool(repo.get("fork")), bool(repo.get("archived"))):
                    continue
                full = str(repo.get("full_name") or "")
                try:
                    yield self._repo(api, raw, repo, full)
                except (FetchError, EnumerationError, ValueError, TypeError) as exc:
                    yield RecordFailure(full or "(sans nom)", f"dépôt illisible : {exc}")
            if len(repos) < PER_PAGE:
                break
        public = info.get("public_repos")
        if isinstance(public, int) and count < public:
            raise EnumerationError(
                f"GitHub annonce {public} dépôts publics pour {org}, {count} ont été listés"
            )

    def _repo(self, api: str, raw: str, repo: dict[str, Any], full: str) -> RemoteRecord:
        languages, _ = self._json(f"{api}/repos/{full}/languages", f"langages de {full}")
        releases, _ = self._json(
            f"{api}/repos/{full}/releases", f"versions de {full}", {"per_page": 5}
        )
        branch = repo.get("default_branch") or "main"
        publiccode = self._optional(f"{raw}/{full}/{quote(branch)}/publiccode.yml")
        licence = (repo.get("license") or {}).get("spdx_id")
        fields: dict[str, Any] = {
            "description": str(repo.get("description") or ""),
            "licence": licence if licence and licence != "NOASSERTION" else None,
            "languages": sorted(languages, key=lambda k: -languages[k])
            if isinstance(languages, dict)
            else [],
            "releases": [
                {
                    "version": r.get("tag_name"),
                    "name": r.get("name"),
                    "date": r.get("published_at"),
                    "url": r.get("html_url"),
                }
                for r in (releases if isinstance(releases, list) else [])[:5]
            ],
        }
        return self._record(
            full,
            str(repo.get("name") or full),
            {
                k: repo.get(k)
                for k in (
                    "full_name",
                    "description",
                    "topics",
                    "pushed_at",
                    "html_url",
                    "license",
                    "language",
                    "archived",
                    "fork",
                )
            },
            fields,
            publiccode,
            str(repo.get("html_url") or f"https://github.com/{full}"),
            repo.get("pushed_at"),
            bool(repo.get("archived")),
        )


class GitLabHarvester(_Forge):
    type = "gitlab"

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure]:
        parts = urlsplit(self.config.url)
        base = f"{parts.scheme}://{parts.netloc}"
        group = parts.path.strip("/")
        if group.startswith("api/v4/groups/"):
            group = group.split("api/v4/groups/", 1)[1].split("/projects")[0]
        if not group:
            raise EnumerationError("adresse GitLab sans groupe")
        api = f"{base}/api/v4"
        group_id = quote(group, safe="")
        for page in range(1, MAX_PAGES):
            what = f"page {page} des projets de {group}"
            projects, headers = self._json(
                f"{api}/groups/{group_id}/projects",
                what,
                {
                    "include_subgroups": "true",
                    "visibility": "public",
                    "per_page": PER_PAGE,
                    "page": page,
                    "order_by": "id",
                    "sort": "asc",
                    "license": "true",
                },
            )
            if not isinstance(projects, list):
                raise EnumerationError(f"{what} : liste attendue")
            total = headers.get("x-total")
            if page == 1 and total and total.isdigit():
                self.expected_total = int(total)
            for project in projects:
                fork = bool(project.get("forked_from_project"))
                if not self._keep(fork, bool(project.get("archived"))):
                    if self.expected_total:
                        self.expected_total -= 1
                    continue
                path = str(project.get("path_with_namespace") or project.get("id"))
                try:
                    yield self._project(api, project, path)
                except (FetchError, EnumerationError, ValueError, TypeError) as exc:
                    yield RecordFailure(path, f"projet illisible : {exc}")
            next_page = headers.get("x-next-page")
            if not next_page:
                return
        raise EnumerationError("trop de pages de projets GitLab")

    def _project(self, api: str, project: dict[str, Any], path: str) -> RemoteRecord:
        pid = project["id"]
        languages, _ = self._json(f"{api}/projects/{pid}/languages", f"langages de {path}")
        releases, _ = self._json(
            f"{api}/projects/{pid}/releases", f"versions de {path}", {"per_page": 5}
        )
        branch = project.get("default_branch") or "main"
        publiccode = self._optional(
            f"{api}/projects/{pid}/repository/files/publiccode.yml/raw", {"ref": branch}
        )
        licence = (project.get("license") or {}).get("key")
        fields: dict[str, Any] = {
            "description": str(project.get("description") or ""),
            "licence": licence.upper() if isinstance(licence, str) else None,
            "languages": sorted(languages, key=lambda k: -languages[k])
            if isinstance(languages, dict)
            else [],
            "releases": [
                {
                    "version": r.get("tag_name"),
                    "name": r.get("name"),
                    "date": r.get("released_at"),
                    "url": ((r.get("_links") or {}).get("self")),
                }
                for r in (releases if isinstance(releases, list) else [])[:5]
            ],
        }
        return self._record(
            path,
            str(project.get("name") or path),
            {k: project.get(k) for k in GITLAB_KEPT},
            fields,
            publiccode,
            str(project.get("web_url") or ""),
            project.get("last_activity_at"),
            bool(project.get("archived")),
        )
