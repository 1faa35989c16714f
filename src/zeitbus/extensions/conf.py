"""The extensions' persistent state: small JSON values in the log's own database.

Zeitgeist keeps its extensions' state in table ``extensions_conf`` of the
activity database, one serialized value per (extension, key), so it lives and
dies with the log (an in-memory log keeps none). Zeitbus does the same with a
table of its own, ``extension_conf``, created here rather than in the store's
schema: the engine knows nothing of extensions. Values are JSON text.

A save is one write transaction on the engine's writer connection, so it is
durable when it returns; callers save before they change what they serve, so
a failed save changes nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from zeitbus.engine import Engine

logger = logging.getLogger(__name__)

_TABLE = """
CREATE TABLE IF NOT EXISTS extension_conf (
    extension TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (extension, key)
) WITHOUT ROWID
"""


class ExtensionConf:
    """(extension, key) -> JSON value, stored in the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        with engine.transaction() as tx:
            tx.connection.execute(_TABLE)

    def load(self, extension: str, key: str) -> Any:
        """The stored value, or None if there is none or it cannot be read (logged)."""
        with self._engine.transaction() as tx:
            row = tx.connection.execute(
                "SELECT value FROM extension_conf WHERE extension = ? AND key = ?",
                (extension, key),
            ).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            logger.warning("The stored %s %s is not JSON; starting empty", extension, key)
            return None

    def save(self, extension: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serializable), replacing the previous one."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        with self._engine.transaction() as tx:
            tx.connection.execute(
                "INSERT OR REPLACE INTO extension_conf (extension, key, value) VALUES (?, ?, ?)",
                (extension, key, text),
            )
