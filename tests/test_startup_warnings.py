"""Starting Niaouli prints no deprecation warning from its libraries (issue 15 §8).

Authlib's HTTP clients moved to httpx2: with only httpx installed, Authlib falls back to
it and warns (`AuthlibDeprecationWarning`, always shown) as soon as the portal imports
its Starlette client, so `niaouli serve` printed it at every start. The fix is the
dependency (httpx2), not a filter: this test records every warning while the server
application is built, in a fresh interpreter, exactly as `niaouli serve` builds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BUILD_APP = textwrap.dedent(
    """
    import warnings

    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import niaouli.cli  # the command line, as `niaouli serve` loads it
        from niaouli.web import create_app

        create_app()
    for item in caught:
        if issubclass(item.category, DeprecationWarning) and "authlib" in (
            item.filename + str(item.message) + item.category.__module__
        ):
            print(f"{item.category.__name__}: {item.message} ({item.filename}:{item.lineno})")
    """
)


def test_building_the_server_app_gives_no_authlib_deprecation_warning(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["NIAOULI_DATA_DIR"] = str(tmp_path)
    env.pop("NIAOULI_DATABASE_URL", None)
    # OpenID Connect configured, so the client is registered too (discovery is lazy).
    env["NIAOULI_OIDC_ISSUER"] = "https://sso.example.invalid"
    env["NIAOULI_OIDC_CLIENT_ID"] = "niaouli"
    env["NIAOULI_OIDC_CLIENT_SECRET"] = "secret"
    result = subprocess.run(
        [sys.executable, "-c", BUILD_APP],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"deprecation warnings at start-up:\n{result.stdout}"
    assert "AuthlibDeprecationWarning" not in result.stderr, result.stderr
