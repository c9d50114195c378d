"""The `q` search grammar of files.list, the subset the platform uses, parsed for real.

    expr  := and ('or' and)*
    and   := unary ('and' unary)*
    unary := 'not' unary | '(' expr ')' | term
    term  := STRING 'in' 'parents'
           | ('name' | 'mimeType') ('=' | '!=' | 'contains') STRING
           | ('createdTime' | 'modifiedTime') ('=' | '!=' | '<' | '<=' | '>' | '>=') STRING
           | 'trashed' ('=' | '!=') ('true' | 'false')
           | 'appProperties' 'has' '{' 'key' '=' STRING 'and' 'value' '=' STRING '}'

Strings are quoted with ' (or "), with \\' and \\\\ escapes. As on Drive, `name contains`
matches the start of a word (case-insensitive: 'Hello' finds "HelloWorld" and "say hello",
'World' does not find "HelloWorld"); `mimeType contains` is a substring test. Anything else
answers 400 'Invalid Value' for `q`, as Google does.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Callable

from .errors import invalid
from .store import DriveFile, UserDrive

Predicate = Callable[[DriveFile, UserDrive], bool]

_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<op>!=|<=|>=|[=<>(){}])"""
                    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*))""")
_WORD_START = re.compile(r"(?:^|[^0-9a-z])")
_COMPARE = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


class _Syntax(Exception):
    pass


def parse(text: str) -> Predicate:
    try:
        parser = _Parser(_tokens(text))
        predicate = parser.expr()
        if parser.pos != len(parser.tokens):
            raise _Syntax
    except (_Syntax, RecursionError):  # RecursionError: nested too deeply to parse
        raise invalid("q") from None
    return predicate


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _Syntax
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        got_kind, got = self.peek()
        if got_kind != kind or (value is not None and got.lower() != value.lower()):
            raise _Syntax
        self.pos += 1
        return got

    def at_word(self, word: str) -> bool:
        kind, value = self.peek()
        return kind == "word" and value.lower() == word

    def expr(self) -> Predicate:
        terms = [self.conjunction()]
        while self.at_word("or"):
            self.pos += 1
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda f, d: any(t(f, d) for t in terms))

    def conjunction(self) -> Predicate:
        terms = [self.unary()]
        while self.at_word("and"):
            self.pos += 1
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else (lambda f, d: all(t(f, d) for t in terms))

    def unary(self) -> Predicate:
        if self.at_word("not"):
            self.pos += 1
            inner = self.unary()
            return lambda f, d: not inner(f, d)
        if self.peek() == ("op", "("):
            self.pos += 1
            inner = self.expr()
            self.take("op", ")")
            return inner
        return self.term()

    def term(self) -> Predicate:
        kind, value = self.peek()
        if kind == "str":
            self.pos += 1
            self.take("word", "in")
            self.take("word", "parents")
            return lambda f, d: d.resolve_id(value) in f.parents
        field = self.take("word")
        if field == "appProperties":
            return self.app_property()
        op = self.take("word") if self.at_word("contains") else self.take("op")
        if field == "trashed" and op in ("=", "!="):
            wanted = self.take("word").lower()
            if wanted not in ("true", "false"):
                raise _Syntax
            flag = (wanted == "true") == (op == "=")
            return lambda f, d: d.is_trashed(f) == flag
        operand = self.take("str")
        if field in ("name", "mimeType") and op in ("=", "!=", "contains"):
            return _text_term(field, op, operand)
        if field in ("createdTime", "modifiedTime") and op in _COMPARE:
            return _time_term(field, op, operand)
        raise _Syntax

    def app_property(self) -> Predicate:
        self.take("word", "has")
        self.take("op", "{")
        self.take("word", "key")
        self.take("op", "=")
        key = self.take("str")
        self.take("word", "and")
        self.take("word", "value")
        self.take("op", "=")
        value = self.take("str")
        self.take("op", "}")
        return lambda f, d: f.app_properties.get(key) == value


def _text_term(field: str, op: str, operand: str) -> Predicate:
    attr = "name" if field == "name" else "mime_type"
    if op == "contains" and field == "name":
        word = re.compile(_WORD_START.pattern + re.escape(operand.lower()))
        return lambda f, d: word.search(f.name.lower()) is not None
    if op == "contains":
        return lambda f, d: operand in f.mime_type
    compare = _COMPARE[op]
    return lambda f, d: compare(getattr(f, attr), operand)


def _time_term(field: str, op: str, operand: str) -> Predicate:
    try:
        moment = datetime.fromisoformat(operand.replace("Z", "+00:00"))
    except ValueError:
        raise _Syntax from None
    if moment.tzinfo is None:  # Drive reads times without an offset as UTC
        moment = moment.replace(tzinfo=timezone.utc)
    limit = moment.timestamp()
    attr = "created" if field == "createdTime" else "modified"
    compare = _COMPARE[op]
    return lambda f, d: compare(getattr(f, attr), limit)
