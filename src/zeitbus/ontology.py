"""The interpretation/manifestation hierarchy and Zeitgeist's auto-fill rules.

The symbols and their parents ship as package data (``ontology_symbols.tsv``);
the mimetype table (``mimetypes.tsv``) and the URI-scheme rules below are what
Zeitgeist 1.0.4 uses to fill a subject's interpretation, manifestation and
storage when a client leaves them empty (docs/ZEITGEIST.md §2.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

ZG = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#"
NIE = "http://www.semanticdesktop.org/ontologies/2007/01/19/nie#"
# Zeitgeist registers the roots of its two trees as symbols too, so that
# nie#InformationElement expands to every interpretation and nie#DataObject
# to every manifestation; the shipped table names them only by their tree.
INFORMATION_ELEMENT = NIE + "InformationElement"
DATA_OBJECT = NIE + "DataObject"
ROOT_SYMBOLS = {"Interpretation": INFORMATION_ELEMENT, "Manifestation": DATA_OBJECT}
NFO = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#"

EVENT_INTERPRETATION = ZG + "EventInterpretation"
MOVE_EVENT = ZG + "MoveEvent"
ACCESS_EVENT = ZG + "AccessEvent"
USER_ACTIVITY = ZG + "UserActivity"
FILE_DATA_OBJECT = NFO + "FileDataObject"
WEB_DATA_OBJECT = NFO + "WebDataObject"
REMOTE_DATA_OBJECT = NFO + "RemoteDataObject"

# Zeitgeist's StorageMonitor files these schemes under the storage "net";
# everything else is "unknown" ("local" is never produced upstream).
NETWORK_SCHEMES = frozenset({"dav", "davs", "ftp", "http", "https", "mailto", "sftp", "smb", "ssh"})
_LONGEST_NETWORK_SCHEME = max(len(scheme) for scheme in NETWORK_SCHEMES)
STORAGE_NET = "net"
STORAGE_UNKNOWN = "unknown"

# Checked in order, as plain prefixes of the URI.
_SCHEME_MANIFESTATIONS = (
    ("file://", FILE_DATA_OBJECT),
    ("http://", WEB_DATA_OBJECT),
    ("https://", WEB_DATA_OBJECT),
    ("ssh://", REMOTE_DATA_OBJECT),
    ("sftp://", REMOTE_DATA_OBJECT),
    ("ftp://", REMOTE_DATA_OBJECT),
    ("dav://", REMOTE_DATA_OBJECT),
    ("davs://", REMOTE_DATA_OBJECT),
    ("smb://", REMOTE_DATA_OBJECT),
)


@dataclass(frozen=True, slots=True)
class Symbol:
    """One ontology term: its short name, URI, root and direct parents."""

    name: str
    uri: str
    root: str
    parents: tuple[str, ...]


class Ontology:
    """The symbol tree, with the ancestor and descendant sets precomputed."""

    def __init__(self, symbols: list[Symbol]) -> None:
        self.symbols = {s.uri: s for s in symbols}
        self._children: dict[str, set[str]] = {uri: set() for uri in self.symbols}
        for symbol in symbols:
            for parent in symbol.parents:
                if parent in self._children:
                    self._children[parent].add(symbol.uri)
        self._descendants = {
            uri: frozenset(self._walk(uri, self._children)) for uri in self.symbols
        }
        parents = {uri: set(s.parents) & self.symbols.keys() for uri, s in self.symbols.items()}
        self._ancestors = {uri: frozenset(self._walk(uri, parents)) for uri in self.symbols}

    @staticmethod
    def _walk(start: str, edges: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        todo = list(edges.get(start, ()))
        while todo:
            uri = todo.pop()
            if uri not in seen:
                seen.add(uri)
                todo.extend(edges.get(uri, ()))
        return seen

    def children(self, uri: str) -> frozenset[str]:
        """Every descendant of ``uri`` (not ``uri`` itself); empty if unknown."""
        return self._descendants.get(uri, frozenset())

    def parents(self, uri: str) -> frozenset[str]:
        """Every ancestor of ``uri``; empty if unknown."""
        return self._ancestors.get(uri, frozenset())

    def is_a(self, uri: str, ancestor: str) -> bool:
        """True if ``uri`` is ``ancestor`` or one of its descendants."""
        return uri == ancestor or ancestor in self.parents(uri)

    def by_name(self, namespace: str, name: str) -> str:
        """The URI of the symbol called ``name`` in ``namespace`` (nfo, nco...)."""
        for symbol in self.symbols.values():
            if symbol.name == name and f"/{namespace.lower()}#" in symbol.uri:
                return symbol.uri
        raise KeyError(f"{namespace}:{name}")


@cache
def ontology() -> Ontology:
    """The ontology shipped with Zeitbus (loaded once)."""
    text = resources.files("zeitbus.data").joinpath("ontology_symbols.tsv").read_text("utf-8")
    symbols = [
        Symbol(uri.rsplit("#", 1)[1].upper(), uri, tree, ()) for tree, uri in ROOT_SYMBOLS.items()
    ]
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        root, name, uri, parents, _count = line.split("\t")
        # A parent named after the tree ("Interpretation") is that tree's root symbol.
        symbols.append(
            Symbol(name, uri, root, tuple(ROOT_SYMBOLS.get(p, p) for p in parents.split(",") if p))
        )
    return Ontology(symbols)


@cache
def _mimetype_rules() -> tuple[dict[str, str], tuple[tuple[re.Pattern[str], str], ...]]:
    onto = ontology()
    exact: dict[str, str] = {}
    searches: list[tuple[re.Pattern[str], str]] = []
    text = resources.files("zeitbus.data").joinpath("mimetypes.tsv").read_text("utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        kind, pattern, symbol = line.split("\t")
        namespace, name = symbol.split(":")
        uri = onto.by_name(namespace, name)
        if kind == "exact":
            exact[pattern] = uri
        else:
            searches.append((re.compile(pattern), uri))
    return exact, tuple(searches)


def interpretation_for_mimetype(mimetype: str) -> str:
    """The subject interpretation Zeitgeist derives from a mimetype, or ""."""
    if not mimetype:
        return ""
    exact, searches = _mimetype_rules()
    if mimetype in exact:
        return exact[mimetype]
    for pattern, uri in searches:
        if pattern.search(mimetype):
            return uri
    return ""


def manifestation_for_uri(uri: str) -> str:
    """The subject manifestation Zeitgeist derives from a URI's scheme, or ""."""
    for prefix, manifestation in _SCHEME_MANIFESTATIONS:
        if uri.startswith(prefix):
            return manifestation
    return ""


def storage_for_uri(uri: str) -> str:
    """The storage medium Zeitgeist's StorageMonitor assigns to a URI."""
    # The text before the first colon (the scheme, if the URI has one): a
    # network scheme is ASCII letters, so no other prefix can lower() to one.
    colon = uri.find(":", 0, _LONGEST_NETWORK_SCHEME + 1)
    if colon > 0 and (scheme := uri[:colon]).isascii() and scheme.lower() in NETWORK_SCHEMES:
        return STORAGE_NET
    return STORAGE_UNKNOWN
