"""pytest fixtures for Convene (registered through the ``pytest11`` entry point).

- ``convene`` (session scope): a running :class:`convene.Convene` on free ports with its data
  in a temporary directory. Under pytest-xdist every worker is its own session, so every
  worker gets an instance of its own.
- ``convene_client``: that instance's boto3 ``chime-sdk-meetings`` client.

Settings: ``--convene-bin PATH`` (else ``CONVENE_BIN``, else ``PATH``) and the ini option
``convene_args`` (extra ``convene serve`` flags, for example ``--limits aws``).
"""

from __future__ import annotations

import pytest

from .server import Convene


def pytest_addoption(parser):
    group = parser.getgroup("convene", "Convene (Amazon Chime SDK Meetings API server)")
    group.addoption(
        "--convene-bin",
        default=None,
        help="the convene binary (default: $CONVENE_BIN, else convene on PATH)",
    )
    parser.addini(
        "convene_args",
        type="args",
        default=[],
        help="extra flags for `convene serve` in the convene fixture",
    )


@pytest.fixture(scope="session")
def convene(request):
    """A Convene instance for the whole session (one per xdist worker)."""
    server = Convene(
        binary=request.config.getoption("convene_bin"),
        args=request.config.getini("convene_args"),
    )
    with server:
        yield server


@pytest.fixture
def convene_client(convene):
    """The boto3 ``chime-sdk-meetings`` client of the session's instance."""
    return convene.client
