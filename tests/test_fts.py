"""Full-text search: the query translator, what a document holds, and the index on a real log."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeitbus import Engine, Event, Subject
from zeitbus.errors import InvalidArgument
from zeitbus.extensions.fts import (
    COLUMNS,
    INDEX_NAME,
    FullTextIndex,
    app_name,
    document,
    file_path,
    split_name,
    uri_words,
)
from zeitbus.extensions.fts_query import MAX_DEPTH, translate
from zeitbus.model import ResultType, TimeRange

TOKENIZER = "tokenize = 'unicode61 remove_diacritics 2'"
TABLE = f"CREATE VIRTUAL TABLE d USING fts5({', '.join(COLUMNS)}, {TOKENIZER})"
ACCESS = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#AccessEvent"
USER = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#UserActivity"


def event(
    timestamp: int, uri: str, text: str = "", actor: str = "application://gedit.desktop"
) -> Event:
    """One event with one subject."""
    return Event(
        timestamp=timestamp,
        interpretation=ACCESS,
        manifestation=USER,
        actor=actor,
        subjects=(Subject(uri=uri, text=text, mimetype="text/plain"),),
    )


@pytest.fixture
def fts_table() -> Iterator[sqlite3.Connection]:
    """An FTS5 table with the index's columns and a few rows, in memory."""
    conn = sqlite3.connect(":memory:")
    conn.execute(TABLE)
    conn.executemany(
        "INSERT INTO d VALUES (?, ?, ?, ?, ?, 'all')",
        [
            ("notes about cats", "notes.txt", "tmp", "", "gedit"),
            ("Kittens", "Kittens", "", "example.org", "firefox"),
        ],
    )
    yield conn
    conn.close()


def matching(conn: sqlite3.Connection, query: str) -> list[int]:
    expression = translate(query)
    if expression is None:
        return []
    sql = "SELECT rowid FROM d WHERE d MATCH ? ORDER BY rowid"
    return [row[0] for row in conn.execute(sql, (expression,))]


# -- the translator ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("cats", [1]),
        ("CATS notes", [1]),
        ('"about cats"', [1]),
        ('"cats about"', []),
        ("cats OR kittens", [1, 2]),
        ("cats AND kittens", []),
        ("cats XOR notes", []),
        ("cats XOR kittens", [1, 2]),
        ("notes NOT cats", []),
        ("-cats", [2]),
        ("NOT cats", [2]),
        ("kitt*", [2]),
        ("KITTENS", [2]),
        ("exämple", [2]),
        ("+kittens -cats", [2]),
        ("(cats OR kittens) -firefox", [1]),
        ("not", []),  # lower case is a word, as in Xapian
        ("site:example.org", [2]),
        ("name:kittens", [2]),
        ("app:gedit", [1]),
        ('"unterminated phrase', []),
        ("all", []),  # the every-document token is not searchable
        ("", []),
        ("* . -- ()", []),
        (") cats (", [1]),
    ],
)
def test_queries_people_type(fts_table: sqlite3.Connection, query: str, rows: list[int]) -> None:
    """Words, phrases, operators, love/hate, wildcards and field prefixes mean what Xapian's do."""
    assert matching(fts_table, query) == rows


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("AND", "Syntax: <expression> AND <expression>"),
        ("cats OR", "Syntax: <expression> OR <expression>"),
        ("NOT", "Syntax: <expression> NOT <expression>"),
        ("cats AND AND dogs", "Syntax: <expression> AND <expression>"),
    ],
)
def test_an_operator_without_an_operand_is_a_syntax_error(query: str, message: str) -> None:
    """A dangling operator is InvalidArgument with Xapian's message."""
    with pytest.raises(InvalidArgument, match=message):
        translate(query)


def test_user_text_never_becomes_fts5_syntax(fts_table: sqlite3.Connection) -> None:
    """Quotes, colons, carets and FTS5 keywords inside words stay text."""
    for query in ['cats" OR "kittens', "d:cats", "^cats", "NEAR(cats kittens)", "cats+kittens"]:
        matching(fts_table, query)  # no error
    assert matching(fts_table, 'cats" OR "kittens') == []


def test_deep_nesting_and_long_queries_are_refused() -> None:
    """Limits keep both parsers far from their stacks."""
    with pytest.raises(InvalidArgument, match="nests"):
        translate("(" * (MAX_DEPTH + 1) + "cats")
    with pytest.raises(InvalidArgument, match="terms"):
        translate("cats " * 1001)
    with pytest.raises(InvalidArgument, match="XOR"):
        translate(" XOR ".join(["cats"] * 10))
    assert translate("(" * MAX_DEPTH + "cats") is not None


def assert_valid_fts5(query: str) -> None:
    """The translation of ``query`` runs on FTS5 without error (or it is InvalidArgument)."""
    try:
        expression = translate(query)
    except InvalidArgument:
        return
    if expression is None:
        return
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(TABLE)
        conn.execute("SELECT rowid FROM d WHERE d MATCH ?", (expression,)).fetchall()
    finally:
        conn.close()


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_any_text_translates_to_valid_fts5(query: str) -> None:
    """Whatever is typed, FTS5 never sees a syntax error."""
    assert_valid_fts5(query)


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["AND", "OR", "NOT", "XOR", "(", ")", '"', "*", "-", "+", "name:"]),
            st.text(alphabet='ab"*-+():é ', max_size=6),
        ),
        max_size=30,
    )
)
def test_operator_soup_translates_to_valid_fts5(parts: list[str]) -> None:
    """Random mixes of the query language's own characters never reach FTS5 as bad syntax."""
    assert_valid_fts5(" ".join(parts))


# -- what a document holds ---------------------------------------------------------


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_a_file_uris_path_is_the_one_urlsplit_gives(rest: str) -> None:
    """The quick path for usual file URIs agrees with urlsplit on any text after the scheme."""

    def outcome(path_of: Callable[[str], str], uri: str) -> str | tuple[str, str]:
        try:
            return path_of(uri)
        except ValueError as error:  # urlsplit's, for a malformed host part
            return ("ValueError", str(error))

    for uri in (f"file:///{rest}", f"file://{rest}", f"FILE:///{rest}"):
        assert outcome(file_path, uri) == outcome(lambda u: unquote(urlsplit(u).path), uri)


def test_uri_words_follow_upstream() -> None:
    """File names and directories (not above home), page names and hosts, mail, apps."""
    assert uri_words("file:///home/ann/Work/My_Report.pdf", home="/home/ann") == (
        "My_Report.pdf My Report.pdf",
        "Work",
        "",
    )
    assert uri_words("file:///a/b/c/d/e.txt") == ("e.txt", "d c b", "")
    assert uri_words("https://www.example.org/wiki/Kittens?x=1") == (
        "Kittens",
        "",
        "www.example.org",
    )
    assert uri_words("http://x/y", origin="https://xn--bcher-kva.example/") == (
        "y",
        "",
        "bücher.example",
    )
    assert uri_words("mailto:ann@example.org") == ("ann", "", "example.org")
    assert uri_words("application://org.gnome.gedit.desktop") == ("org.gnome.gedit", "", "")
    assert uri_words("data:text/plain,secret") == ("", "", "")
    assert uri_words("file:///" + "a" * 600) == ("", "", "")
    assert uri_words("ftp://host.example/pub/file.tar.gz") == ("file.tar.gz", "", "host.example")


def test_names_split_at_camel_case_and_underscores() -> None:
    """As upstream's preprocessing, keeping the name itself too."""
    assert split_name("ProjectPlan.odt") == "ProjectPlan.odt Project Plan.odt"
    assert split_name("IMG_20230101.jpg") == "IMG_20230101.jpg IMG 20230101.jpg"
    assert split_name("a.txt") == "a.txt"
    assert app_name("application://firefox-esr.desktop") == "firefox-esr"
    assert app_name("/usr/share/applications/vim.desktop") == "vim"
    assert app_name("sh") == ""


def test_a_document_holds_texts_names_and_the_actor() -> None:
    """Every subject's text and URI words, and the actor's app name."""
    two = Event(
        actor="application://gedit.desktop",
        subjects=(
            Subject(uri="file:///tmp/a.txt", text="first"),
            Subject(uri="http://example.org/b", current_uri="http://example.org/c", text="second"),
        ),
    )
    doc = document(two)
    assert doc.text == "first\nsecond"
    assert doc.name == "a.txt\nc"  # the current URI
    assert doc.host == "example.org"
    assert doc.actor == "gedit"


# -- the index on a real log -----------------------------------------------------------


@pytest.fixture
def index(engine: Engine) -> Iterator[FullTextIndex]:
    """The full-text index beside the engine's log file."""
    opened = FullTextIndex.beside(engine)
    yield opened
    opened.close()


def ids(found: object) -> list[int]:
    return [e.id for e in found.events]  # type: ignore[attr-defined]


def test_search_sees_events_inserted_before_it(engine: Engine, index: FullTextIndex) -> None:
    """A search catches up with the feed first; the index file sits beside the log."""
    engine.insert_events([event(1000, "file:///tmp/soup.txt", "tomato soup")])
    assert ids(index.search("soup")) == [1]
    assert Path(index.path) == Path(engine.store.path).with_name(INDEX_NAME)
    assert index.cursor == engine.last_seq() == 1


def test_tombstones_remove_documents(engine: Engine, index: FullTextIndex) -> None:
    """A deleted event leaves the index; a new event that reuses nothing is found."""
    engine.insert_events(
        [event(1000, "file:///tmp/a", "soup"), event(2000, "file:///tmp/b", "soup")]
    )
    index.catch_up()
    engine.delete_events([1])
    found = index.search("soup")
    assert ids(found) == [2]
    assert found.matches == 1


def test_an_insert_deleted_before_indexing_is_skipped(engine: Engine, index: FullTextIndex) -> None:
    """Catching up over an insert and its tombstone indexes nothing for it."""
    engine.insert_events([event(1000, "file:///tmp/a", "soup")])
    engine.delete_events([1])
    engine.insert_events([event(2000, "file:///tmp/b", "stew")])
    assert index.catch_up() == 3
    assert index.search("soup").matches == 0
    assert ids(index.search("stew")) == [2]


def test_the_cursor_survives_reopening(engine: Engine, tmp_path: Path) -> None:
    """Rows and cursor are committed together; a reopened index resumes where it was."""
    engine.insert_events([event(1000, "file:///tmp/a", "soup")])
    first = FullTextIndex.beside(engine)
    assert first.catch_up() == 1
    first.close()
    engine.insert_events([event(2000, "file:///tmp/b", "soup")])
    second = FullTextIndex.beside(engine)
    try:
        assert second.cursor == 1
        assert second.catch_up() == 2
        assert sorted(ids(second.search("soup"))) == [1, 2]
    finally:
        second.close()


def test_an_index_of_another_log_is_rebuilt(tmp_path: Path) -> None:
    """fts.sqlite built for one log is dropped and rebuilt for another (another node id)."""
    with Engine.open(tmp_path / "one") as one:
        one.insert_events([event(1000, "file:///tmp/a", "soup")])
        built = FullTextIndex.beside(one)
        built.catch_up()
        built.close()
    (tmp_path / "one" / "zeitbus.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "one" / f"zeitbus.sqlite{suffix}").unlink(missing_ok=True)
    with Engine.open(tmp_path / "one") as other:
        other.insert_events([event(1000, "file:///tmp/b", "stew")])
        rebuilt = FullTextIndex.beside(other)
        try:
            assert rebuilt.cursor == 0
            assert rebuilt.search("soup").matches == 0
            assert ids(rebuilt.search("stew")) == [1]
        finally:
            rebuilt.close()


def test_filters_and_result_types_apply_to_the_matches(
    engine: Engine, index: FullTextIndex
) -> None:
    """Time range, templates and result types work as a find over the matching events only."""
    engine.insert_events(
        [
            event(1000, "file:///tmp/a", "soup"),
            event(2000, "file:///tmp/a", "soup again"),
            event(3000, "file:///tmp/b", "soup", actor="application://vim.desktop"),
            event(4000, "file:///tmp/c", "bread"),
        ]
    )
    assert ids(index.search("soup", TimeRange(1500, 0), result_type=0)) == [3, 2]
    vim = Event(actor="application://vim.desktop")
    assert ids(index.search("soup", templates=[vim], result_type=0)) == [3]
    assert ids(index.search("soup", result_type=ResultType.MOST_RECENT_SUBJECTS)) == [3, 2]
    assert ids(index.search("soup", result_type=ResultType.MOST_POPULAR_SUBJECTS)) == [2, 3]
    assert ids(index.search("soup", result_type=ResultType.MOST_RECENT_ACTOR)) == [3, 2]
    page = index.search("soup", offset=1, count=1, result_type=0)
    assert (ids(page), page.matches) == ([2], 3)
    with pytest.raises(InvalidArgument, match="Invalid ResultType"):
        index.search("soup", result_type=35)


def test_relevancy_orders_by_score(engine: Engine, index: FullTextIndex) -> None:
    """Result type 100: the best match first with relevancy 1.0; text outweighs the actor."""
    engine.insert_events(
        [
            event(1000, "file:///tmp/x", "unrelated", actor="application://soup.desktop"),
            event(2000, "file:///tmp/soup", "soup soup"),
            event(3000, "file:///tmp/y", "something"),
            event(4000, "file:///tmp/z", "other"),
            event(5000, "file:///tmp/w", "soup"),
        ]
    )
    found = index.search("soup", by_relevance=True)
    assert ids(found) == [2, 5, 1]
    assert found.relevancies[0] == 1.0
    assert found.relevancies == sorted(found.relevancies, reverse=True)


def test_searches_and_catching_up_run_in_parallel_threads(
    engine: Engine, index: FullTextIndex
) -> None:
    """Catching up is serialised; every thread's search sees what was stored before it."""
    engine.insert_events([event(1000 + n, f"file:///tmp/{n}", "soup") for n in range(50)])
    results: list[int] = []

    def search() -> None:
        results.append(index.search("soup").matches)

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [50] * 4


def test_an_in_memory_log_has_no_index() -> None:
    """As upstream, no full-text search for ``:memory:``."""
    with Engine.open(":memory:") as memory, pytest.raises(InvalidArgument):
        FullTextIndex.beside(memory)
