"""What people type into a search box, translated to a safe SQLite FTS5 MATCH expression.

Theory of operation. Zeitgeist's indexer parses queries with Xapian's
QueryParser (flags PHRASE, BOOLEAN, PURE_NOT, LOVEHATE and WILDCARD, default
operator AND). This module accepts the same language and never hands user
text to FTS5's own parser: the query is lexed and parsed here into a small
tree, and every word or phrase is emitted as an FTS5 *string* (in double
quotes, inner quotes doubled), so no character the user types can become
FTS5 syntax. The operators in the emitted expression are only the ones this
module writes.

The language, loosest binding first:

* ``a OR b``; ``a XOR b`` (exactly one of them);
* ``a AND b``; ``a NOT b`` (a, without b);
* words side by side are ANDed; ``+word`` is the same as ``word``, and
  ``-word`` removes what matches ``word``;
* ``"a quoted phrase"`` (an unterminated quote runs to the end), ``word*``
  (a trailing ``*``: any word starting so), ``( ... )`` to group, and the
  field prefixes ``name:``, ``title:``, ``site:``, ``app:`` as upstream's.

Operators are upper case only (``not`` is a word, as in Xapian). A leading
``NOT x``, or only ``-x`` terms, is a "pure NOT": everything but x. Words
that hold no letter or digit (``*``, ``.``, ``--``) are dropped, as the
tokenizer would drop them. An operator missing an operand (``AND``,
``cats OR``) is a syntax error, ``InvalidArgument`` with Xapian's message;
an empty query translates to ``None`` (nothing matches). Deep nesting and
very long queries are refused (``InvalidArgument``) so that neither this
parser nor FTS5's can overflow.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from zeitbus.errors import InvalidArgument

# The columns user terms search, and the one column every document has the
# token EVERY_TOKEN in, which gives a pure NOT something to subtract from.
CONTENT_COLUMNS: tuple[str, ...] = ("text", "name", "path", "host", "actor")
EVERY_COLUMN = "every"
EVERY_TOKEN = "all"
FIELD_PREFIXES: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "title": ("name",),
    "site": ("host",),
    "app": ("actor", "name"),
}
MAX_TERMS = 1000
MAX_DEPTH = 32
MAX_XORS = 8  # each XOR writes both its sides twice
MAX_EXPRESSION = 200_000  # characters of FTS5 expression

_OPERATORS = ("AND", "OR", "NOT", "XOR")
_FIELD = re.compile(r"^([a-z]+):(.+)$")


@dataclass(frozen=True, slots=True)
class Term:
    """A word or a phrase, maybe a prefix, searched in some columns."""

    text: str
    prefix: bool = False
    columns: tuple[str, ...] = CONTENT_COLUMNS


@dataclass(frozen=True, slots=True)
class Every:
    """Every document (the left side of a pure NOT)."""


@dataclass(frozen=True, slots=True)
class And:
    """All of the parts."""

    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of the parts."""

    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Without:
    """``keep``, except what matches ``drop``."""

    keep: Node
    drop: Node


Node = Term | Every | And | Or | Without


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "phrase", "(", ")", or an operator
    text: str = ""
    sign: str = ""  # "+", "-" or ""
    prefix: bool = False


def _lex(query: str) -> list[_Token]:
    # D-Bus strings are valid UTF-8 without NUL; other callers may not be so careful.
    query = query.encode("utf-8", "ignore").decode("utf-8").replace("\x00", " ")
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
            continue
        if char in "()":
            tokens.append(_Token(char))
            i += 1
            continue
        sign = ""
        if char in "+-" and i + 1 < n and not query[i + 1].isspace():
            sign, i = char, i + 1
            char = query[i]
        if char == '"':
            end = query.find('"', i + 1)
            end = n if end < 0 else end
            tokens.append(_Token("phrase", query[i + 1 : end], sign))
            i = end + 1
            continue
        start = i
        while i < n and not query[i].isspace() and query[i] not in '()"':
            i += 1
        word = query[start:i]
        if not sign and word in _OPERATORS:
            tokens.append(_Token(word))
            continue
        stripped = word.rstrip("*")
        tokens.append(_Token("word", stripped, sign, prefix=stripped != word))
    if len(tokens) > MAX_TERMS:
        raise InvalidArgument(f"the query has more than {MAX_TERMS} terms")
    return tokens


class _Parser:
    """Recursive descent over the tokens; ``None`` stands for "no condition"."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.depth = 0
        self.xors = 0

    def peek(self) -> str | None:
        return self.tokens[self.at].kind if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def query(self) -> Node | None:
        node = self.any_of()
        while self.at < len(self.tokens):  # a stray ")" ends nothing: skip it, go on
            self.take()
            node = _all_of([node, self.any_of()])
        return node

    def any_of(self) -> Node | None:
        parts = [self.one_of()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.operand("OR", self.one_of))
        return parts[0] if len(parts) == 1 else _any_of(parts)

    def one_of(self) -> Node | None:
        node = self.all_of()
        while self.peek() == "XOR":
            self.take()
            self.xors += 1
            if self.xors > MAX_XORS:
                raise InvalidArgument(f"the query has more than {MAX_XORS} XOR operators")
            other = self.operand("XOR", self.all_of)
            node = _xor(node, other)
        return node

    def all_of(self) -> Node | None:
        parts = [self.without()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.operand("AND", self.without))
        return parts[0] if len(parts) == 1 else _all_of(parts)

    def without(self) -> Node | None:
        keep: Node | None
        drops: list[Node | None] = []
        if self.peek() == "NOT":  # a leading NOT: everything but what follows
            self.take()
            keep = Every()
            drops.append(self.operand("NOT", self.group))
        else:
            keep = self.group()
        while self.peek() == "NOT":
            self.take()
            drops.append(self.operand("NOT", self.group))
        drop = _any_of(drops)
        if drop is None:
            return None if isinstance(keep, Every) else keep
        return _without(keep, drop)

    def operand(self, operator: str, parse: Callable[[], Node | None]) -> Node | None:
        if self.peek() not in ("word", "phrase", "("):
            raise InvalidArgument(f"Syntax: <expression> {operator} <expression>")
        return parse()

    def group(self) -> Node | None:
        """Items side by side: + and plain terms ANDed, - terms removed."""
        start = self.at
        loved: list[Node | None] = []
        hated: list[Node | None] = []
        while self.peek() in ("word", "phrase", "("):
            token = self.tokens[self.at]
            item = self.item()
            (hated if token.sign == "-" else loved).append(item)
        if self.at == start:
            operator = self.peek()
            if operator in _OPERATORS:
                raise InvalidArgument(f"Syntax: <expression> {operator} <expression>")
            return None  # nothing (an empty query, or before a stray ")")
        keep = _all_of(loved)
        drop = _any_of(hated)
        if drop is None:
            return keep
        return _without(Every() if keep is None else keep, drop)

    def item(self) -> Node | None:
        token = self.take()
        if token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise InvalidArgument(f"the query nests more than {MAX_DEPTH} levels deep")
            node = self.any_of() if self.peek() not in (")", None) else None
            if self.peek() == ")":
                self.take()
            self.depth -= 1
            return node
        return _term(token)


def _term(token: _Token) -> Term | None:
    text = token.text
    columns: tuple[str, ...] = CONTENT_COLUMNS
    field = _FIELD.match(text) if token.kind == "word" else None
    if field is not None and field.group(1) in FIELD_PREFIXES:
        text, columns = field.group(2), FIELD_PREFIXES[field.group(1)]
    if not any(_is_token_char(char) for char in text):
        return None
    return Term(text, token.prefix, columns)


def _is_token_char(char: str) -> bool:
    # unicode61's token characters: letters, numbers and private-use characters.
    return unicodedata.category(char)[0] in "LN" or unicodedata.category(char) == "Co"


def _all_of(parts: list[Node | None]) -> Node | None:
    kept: list[Node] = []
    for part in parts:
        if isinstance(part, And):
            kept.extend(part.parts)
        elif part is not None:
            kept.append(part)
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else And(tuple(kept))


def _any_of(parts: list[Node | None]) -> Node | None:
    kept: list[Node] = []
    for part in parts:
        if isinstance(part, Or):
            kept.extend(part.parts)
        elif part is not None:
            kept.append(part)
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else Or(tuple(kept))


def _without(keep: Node | None, drop: Node | None) -> Node | None:
    if drop is None:
        return keep
    return Without(Every() if keep is None else keep, drop)


def _xor(a: Node | None, b: Node | None) -> Node | None:
    if a is None or b is None:
        return b if a is None else a
    return Or((Without(a, b), Without(b, a)))


def parse(query: str) -> Node | None:
    """The query's tree, or None if it holds no searchable term (InvalidArgument if malformed)."""
    if not isinstance(query, str):
        raise InvalidArgument(f"a search query must be a string, got {type(query).__name__}")
    return _Parser(_lex(query)).query()


def to_fts5(node: Node, depth: int = 0) -> str:
    """The FTS5 MATCH expression of a tree (user text only ever inside FTS5 strings)."""
    if depth > 4 * MAX_DEPTH:
        raise InvalidArgument("the query is too complex")
    if isinstance(node, Term):
        quoted = '"' + node.text.replace('"', '""') + '"'
        return "{" + " ".join(node.columns) + "} : " + quoted + (" *" if node.prefix else "")
    if isinstance(node, Every):
        return f'{EVERY_COLUMN} : "{EVERY_TOKEN}"'
    if isinstance(node, Without):
        return f"({to_fts5(node.keep, depth + 1)} NOT {to_fts5(node.drop, depth + 1)})"
    operator = " AND " if isinstance(node, And) else " OR "
    return "(" + operator.join(to_fts5(part, depth + 1) for part in node.parts) + ")"


def translate(query: str) -> str | None:
    """The FTS5 MATCH expression for ``query``, or None if nothing can match."""
    node = parse(query)
    if node is None:
        return None
    expression = to_fts5(node)
    if len(expression) > MAX_EXPRESSION:
        raise InvalidArgument("the query is too complex")
    return expression
