"""The tests' `niaouli serve` helper leaves nothing behind, even when it never answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.accounts_support import LoggedServer
from tests.conftest import Backend


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (from /proc: field 5 of `stat`)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


# One backend is enough: the helper is what is tested.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_server_that_does_not_answer_in_time_is_stopped_with_its_group(
    backend: Backend, tmp_path: Path
) -> None:
    server = LoggedServer(backend, tmp_path / "server.log")
    server.start_timeout = 0.2  # `niaouli serve` takes longer than that to answer
    with pytest.raises(AssertionError, match="did not answer within"):
        server.__enter__()
    assert server.process is not None and server.process.returncode is not None
    assert group_members(server.process.pid) == []  # no orphan `niaouli serve` left
