"""Run Convene, a server that speaks the Amazon Chime SDK Meetings API, from Python tests.

Needs nothing but the ``convene`` binary, found through ``CONVENE_BIN`` or on ``PATH``.

- :class:`Convene` starts one instance on free ports with ``--ephemeral --ready-file`` and
  stops it again; use it as a context manager outside pytest.
- :mod:`convene.pytest_plugin` (registered with pytest through an entry point) provides the
  session-scoped ``convene`` fixture, one instance per pytest-xdist worker, and
  ``convene_client``.

Further helpers live in their own modules beside these (for example test-control helpers
that talk to a running instance).
"""

from .server import Convene, ConveneError, find_binary

__all__ = ["Convene", "ConveneError", "find_binary"]
