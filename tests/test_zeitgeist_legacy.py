"""import_zeitgeist on the pre-1.0 databases of upstream's upgrade tests (schemas 3 to 6).

The databases are made from upstream's own dumps (test/data/databases/*.sql,
Zeitgeist 0.7.1 to 0.9.0 alpha 3), as upstream's upgrade-test.py makes them,
and the expectations are upstream's: the events of test/data/upgrade_test.js,
with what each schema did not have yet filled in as Zeitgeist's upgrade
fills it. One deliberate difference: an event origin the file has is kept
(upstream's upgrade sets every event origin to NULL).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests import zeitgeist_upstream
from tests.zeitgeist_upstream import UPGRADE_DUMPS, upgrade_database, upgrade_events
from zeitbus import DatabaseError, Engine, Event, Subject
from zeitbus.ontology import REMOTE_DATA_OBJECT, WEB_DATA_OBJECT
from zeitbus.zeitgeist_import import import_zeitgeist

pytestmark = pytest.mark.skipif(
    zeitgeist_upstream.missing() is not None, reason=f"{zeitgeist_upstream.missing()}"
)


def expected_event(event_id: int, source: dict[str, Any], version: int) -> Event:
    """An upgrade_test.js event as the migrated log should show it."""
    subjects = []
    for subject in source["subjects"]:
        manifestation = subject["manifestation"]
        if manifestation == REMOTE_DATA_OBJECT and subject["uri"].startswith("http"):
            manifestation = WEB_DATA_OBJECT  # Zeitgeist 0.9's ontology update
        subjects.append(
            Subject(
                uri=subject["uri"],
                interpretation=subject["interpretation"],
                manifestation=manifestation,
                origin=subject["origin"],
                mimetype=subject["mimetype"],
                text=subject["text"],
                storage=subject["storage"],
                current_uri=subject["uri"],
                current_origin=subject["origin"],
            )
        )
    return Event(
        id=event_id,
        timestamp=source["timestamp"],
        interpretation=source["interpretation"],
        manifestation=source["manifestation"],
        actor=source["actor"],
        # Schema 3 (0.7.1) had no event origin; from 4 on the file keeps it.
        origin=source.get("origin", "") if version >= 4 else "",
        subjects=tuple(subjects),
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("dump", list(UPGRADE_DUMPS))
def test_an_old_zeitgeist_database_imports_every_event_with_its_id(
    dump: str, tmp_path: Path
) -> None:
    """Each upgrade dump's three events come over whole, with ids 1-3; the file is untouched."""
    db = upgrade_database(dump, tmp_path / "activity.sqlite")
    before = digest(db)
    with Engine.open(tmp_path / "zeitbus") as engine:
        report = import_zeitgeist(engine, db, keep_ids=True)
        got = [e.with_changes(uid="", node="") if e else None for e in engine.get_events([1, 2, 3])]
    version = UPGRADE_DUMPS[dump]
    assert (report.schema_version, report.imported, report.unreadable) == (version, 3, ())
    assert got == [expected_event(n, e, version) for n, e in enumerate(upgrade_events(), 1)]
    assert digest(db) == before


def test_schema_3_subjects_without_a_storage_are_on_unknown_storage(tmp_path: Path) -> None:
    """A 0.7.1 subject with no storage gets "unknown", as Zeitgeist's upgrade gives it."""
    db = upgrade_database("071", tmp_path / "activity.sqlite")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE event SET subj_storage = NULL WHERE id = 2")
    conn.close()
    with Engine.open(tmp_path / "zeitbus") as engine:
        import_zeitgeist(engine, db, keep_ids=True)
        event = engine.get_events([2])[0]
    assert event is not None
    assert event.subjects[0].storage == "unknown"


def test_a_schema_older_than_0_7_1_is_refused(tmp_path: Path) -> None:
    """Schema 2 and below were never upgradable by Zeitgeist 1.0 either."""
    db = upgrade_database("071", tmp_path / "activity.sqlite")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = 2 WHERE schema = 'core'")
    conn.close()
    with (
        Engine.open(tmp_path / "zeitbus") as engine,
        pytest.raises(DatabaseError, match="schema version 2; only versions 3 to 11"),
    ):
        import_zeitgeist(engine, db)
