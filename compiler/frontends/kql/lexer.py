"""Split KQL text into tokens with line and column; comments and whitespace are dropped.

Token kinds: `name` (identifiers, including `$left`/`$right`), `string` (value already
unescaped), `long`, `real`, `timespan` (text is the literal as written), `datetime` and
`guid` (text is the raw payload between the parentheses), `punct`, `error` (text is the
message; the lexer skips to the next line and goes on) and `eof`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    column: int
    offset: int
    space_before: bool = False  # whitespace or a comment precedes the token


class LexError(Exception):
    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.line = line
        self.column = column


PUNCTUATION = (
    "..", "==", "!=", "<=", ">=", "=~", "!~", "=>", "<>",
    "|", "(", ")", "[", "]", "{", "}", ",", ";", "=", "<", ">", "+", "-", "*", "/",
    "%", ".", ":", "!", "~", "@", "?",
)  # fmt: skip

TIMESPAN_UNITS = (
    "microseconds|microsecond|milliseconds|millisecond|millis|milli|minutes|minute|min"
    "|seconds|second|sec|hours|hour|hrs|hr|days|day|ticks|tick|ms|d|h|m|s"
)
NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?"
    rf"(?:(?:{TIMESPAN_UNITS})(?![A-Za-z0-9_]))?"
)
NAME = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*")
RAW_PAYLOAD_NAMES = {"datetime", "guid", "time", "timespan"}
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
ESCAPES |= {"a": "\a", "b": "\b", "f": "\f", "v": "\v"}
HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}  # escape letter -> number of hex digits
# `\3`, `\101`: a digit 0-7 and up to two more digits, read as octal (as Kusto.Language reads
# them, an 8 or 9 after the first digit counts 8 or 9)
OCTAL_ESCAPE = re.compile(r"\\[0-7][0-9]{0,2}")


class Lexer:
    """A single pass over the text; `tokens()` returns the full list ending with `eof`."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.out: list[Token] = []

    def tokens(self) -> list[Token]:
        while True:
            spaced = self.skip_trivia()
            if self.pos >= len(self.text):
                self.out.append(Token("eof", "", self.line, self.column, self.pos, spaced))
                return self.out
            try:
                self.out.append(self.next_token(spaced))
            except LexError as error:
                start = self.pos
                self.out.append(Token("error", str(error), error.line, error.column, start))
                end = self.text.find("\n", start + 1)
                self.advance_to(len(self.text) if end < 0 else end)

    @property
    def column(self) -> int:
        return self.pos - self.line_start + 1

    def error(self, message: str) -> LexError:
        return LexError(message, self.line, self.column)

    def advance_to(self, end: int) -> None:
        chunk = self.text[self.pos : end]
        newlines = chunk.count("\n")
        if newlines:
            self.line += newlines
            self.line_start = self.pos + chunk.rindex("\n") + 1
        self.pos = end

    def skip_trivia(self) -> bool:
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch.isspace() or ch in "\ufeff\u200b":
                self.advance_to(self.pos + 1)
            elif self.text.startswith("//", self.pos):
                end = self.text.find("\n", self.pos)
                self.advance_to(len(self.text) if end < 0 else end)
            else:
                break
        return self.pos > start

    def make(self, kind: str, text: str, start: int, spaced: bool) -> Token:
        line, column = self.line, start - self.line_start + 1
        return Token(kind, text, line, column, start, spaced)

    def next_token(self, spaced: bool) -> Token:
        text, pos = self.text, self.pos
        ch = text[pos]
        start_line, start_col = self.line, self.column
        if ch in "\"'" or (ch in "@hH" and self.starts_string(pos)):
            value = self.read_string()
            return Token("string", value, start_line, start_col, pos, spaced)
        if text.startswith("```", pos) or text.startswith("~~~", pos):
            return Token("string", self.read_multiline(), start_line, start_col, pos, spaced)
        if ch.isdigit() or (ch == "." and pos + 1 < len(text) and text[pos + 1].isdigit()):
            return self.read_number(spaced)
        match = NAME.match(text, pos)
        if match:
            return self.read_name(match.group(), spaced)
        for punct in PUNCTUATION:
            if text.startswith(punct, pos):
                token = self.make("punct", punct, pos, spaced)
                self.advance_to(pos + len(punct))
                return token
        raise self.error(f"unexpected character {ch!r}")

    def starts_string(self, pos: int) -> bool:
        rest = self.text[pos : pos + 3]
        if rest[:1] == "@":
            return rest[1:2] in ("'", '"')
        return rest[1:2] in ("'", '"') or (rest[1:2] == "@" and rest[2:3] in ("'", '"'))

    def read_string(self) -> str:
        text = self.text
        pos = self.pos
        if text[pos] in "hH":
            pos += 1
        verbatim = text[pos] == "@"
        pos += verbatim
        quote = text[pos]
        pos += 1
        chars: list[str] = []
        while pos < len(text):
            ch = text[pos]
            if ch == "\n":
                break
            if ch == quote:
                if verbatim and text[pos + 1 : pos + 2] == quote:
                    chars.append(quote)
                    pos += 2
                    continue
                self.advance_to(pos + 1)
                return "".join(chars)
            if ch == "\\" and not verbatim:
                pos, escaped = self.read_escape(pos)
                chars.append(escaped)
                continue
            chars.append(ch)
            pos += 1
        raise self.error("unterminated string literal: expected a closing " + quote)

    def read_escape(self, pos: int) -> tuple[int, str]:
        """One escape (C#'s: `\\n`, `\\xHH`, `\\uHHHH`, `\\UHHHHHHHH`, ...); a UTF-16 surrogate
        pair written as two `\\u` escapes is one character."""
        nxt = self.text[pos + 1 : pos + 2]
        if nxt in ESCAPES:
            return pos + 2, ESCAPES[nxt]
        octal = OCTAL_ESCAPE.match(self.text, pos)
        if octal is not None:
            code = 0
            for digit in octal.group()[1:]:
                code = code * 8 + int(digit)
            return octal.end(), chr(code)
        code = self.hex_escape(pos)
        if code is not None and 0xD800 <= code < 0xDC00:
            low = self.hex_escape(pos + 6) if nxt == "u" else None
            if low is not None and 0xDC00 <= low < 0xE000:
                return pos + 12, chr(0x10000 + (code - 0xD800) * 0x400 + low - 0xDC00)
        if code is not None and code <= 0x10FFFF and not 0xD800 <= code < 0xE000:
            return pos + 2 + HEX_ESCAPES[nxt], chr(code)
        self.advance_to(pos)
        if code is not None:
            raise self.error(f"the escape '{self.text[pos : pos + 2 + HEX_ESCAPES[nxt]]}' is not a "
                             "Unicode character (a lone surrogate or beyond U+10FFFF)")  # fmt: skip
        raise self.error(f"invalid escape sequence '\\{nxt}' in string literal")

    def hex_escape(self, pos: int) -> int | None:
        """The code of a `\\x`, `\\u` or `\\U` escape at `pos`, or None."""
        letter = self.text[pos + 1 : pos + 2]
        digits = self.text[pos + 2 : pos + 2 + HEX_ESCAPES.get(letter, 0)]
        if self.text[pos : pos + 1] != "\\" or letter not in HEX_ESCAPES:
            return None
        if len(digits) != HEX_ESCAPES[letter] or not re.fullmatch(r"[0-9a-fA-F]+", digits):
            return None
        return int(digits, 16)

    def read_multiline(self) -> str:
        fence = self.text[self.pos : self.pos + 3]
        end = self.text.find(fence, self.pos + 3)
        if end < 0:
            raise self.error(f"unterminated multi-line string: expected a closing {fence}")
        value = self.text[self.pos + 3 : end]
        self.advance_to(end + 3)
        return value

    def read_number(self, spaced: bool) -> Token:
        match = NUMBER.match(self.text, self.pos)
        assert match is not None
        literal = match.group()
        name = re.compile(r"[0-9]+[A-Za-z_][A-Za-z0-9_]*").match(self.text, self.pos)
        if name and name.end() > match.end():
            return self.read_name(name.group(), spaced)
        if re.search(r"[a-zA-Z]$", literal) and not literal.lower().startswith("0x"):
            kind = "timespan"
        elif re.fullmatch(r"\d+|0[xX][0-9a-fA-F]+", literal):
            kind = "long"
        else:
            kind = "real"
        token = self.make(kind, literal, self.pos, spaced)
        self.advance_to(match.end())
        if self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] == "_"
        ):
            raise self.error(f"invalid number literal {literal + self.text[self.pos]!r}")
        return token

    def read_name(self, name: str, spaced: bool) -> Token:
        start = self.pos
        after = start + len(name)
        if name.lower() in RAW_PAYLOAD_NAMES and self.text.startswith("(", after):
            end = self.text.find(")", after)
            if end < 0:
                raise self.error(f"unterminated {name}(...) literal: expected ')'")
            kind = {"time": "timespan"}.get(name.lower(), name.lower())
            token = self.make(kind, self.text[after + 1 : end].strip(), start, spaced)
            self.advance_to(end + 1)
            return token
        token = self.make("name", name, start, spaced)
        self.advance_to(after)
        return token


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`; raises `LexError` at the first malformed one."""
    return Lexer(text).tokens()
