"""Fixtures for the docker_forensics Python tests: the real basic disk
image written by a real dockerd (../shared/fixtures, or the copy shipped in
samples/) and the facts the engine itself reported about it
(basic.expected.json)."""

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _fixtures():
    for d in (REPO.parent / "shared" / "fixtures", REPO / "samples"):
        if (d / "basic.disk.E01").is_file() and (d / "basic.expected.json").is_file():
            return d
    return None


FIXTURES = _fixtures()


@pytest.fixture(scope="session")
def fixtures():
    if FIXTURES is None:
        # Never a silent skip in CI (as tests/common/mod.rs skip()).
        if os.environ.get("CI") == "true":
            pytest.fail("basic.disk.E01 is in neither ../shared/fixtures nor samples/")
        pytest.skip("basic.disk.E01 is in neither ../shared/fixtures nor samples/")
    return FIXTURES


@pytest.fixture(scope="session")
def disk(fixtures):
    return fixtures / "basic.disk.E01"


@pytest.fixture(scope="session")
def expected(fixtures):
    with open(fixtures / "basic.expected.json") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def evidence(disk):
    import docker_forensics

    return docker_forensics.open_evidence(disk)
