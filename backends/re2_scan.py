"""One pass over an RE2 pattern (the reference semantics), written out for another regex engine.

`Re2Scanner` walks RE2's syntax (escapes, classes, groups, quantifiers, `{n,m}`, `\\Q...\\E`) and
copies what the target reads the same; each target overrides the hooks where its reading
differs, and raises `NotPortable` for what it cannot say with RE2's meaning.
"""

from __future__ import annotations

import re

REPEAT = re.compile(r"\{[0-9]+(,[0-9]*)?\}")
NAMED_GROUP = re.compile(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>")
FLAG_GROUP = re.compile(r"\(\?([A-Za-z]*)(-[A-Za-z]*)?([:)])")
HEX = re.compile(r"\\x(\{[0-9A-Fa-f]+\}|[0-9A-Fa-f]{2})")
POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")
NOT_NEWLINE = "[^\\n]"


class NotPortable(ValueError):
    """An RE2 construct that the target would read differently; the message names it."""


class Re2Scanner:
    """The target's text for an RE2 pattern; subclasses set the target's spellings."""

    any_char = "."  # `.` under `s`
    named_group = "("  # what a named group opens
    same_escapes: frozenset[str] = frozenset()  # letter escapes the target reads as RE2 does
    class_escaped = "[]^"  # characters escaped inside a class
    possessive = "a possessive quantifier"
    other_group = ""  # what the message about an unknown group adds

    def __init__(self, pattern: str, dot_all: bool):
        self.text = pattern
        self.pos = 0
        self.dot_all = dot_all

    def rewrite(self) -> str:
        parts: list[str] = []
        while self.pos < len(self.text):
            parts.append(self.atom())
        return "".join(parts)

    def atom(self) -> str:
        char = self.text[self.pos]
        if char == "\\":
            return self.escape(in_class=False)
        if char == "[":
            return self.char_class()
        if char == "(":
            return self.group()
        self.pos += 1
        return self.plain(char)

    def plain(self, char: str) -> str:
        """A character outside escapes, classes and group openings."""
        if char in "*+?":
            return char + self.quantifier_suffix()
        if char == "{":
            return self.brace()
        if char == ".":
            return self.any_char if self.dot_all else NOT_NEWLINE
        return "\\}" if char == "}" else char

    def quantifier_suffix(self) -> str:
        """A lazy `?` after a quantifier; a possessive `+` is refused (RE2 rejects it)."""
        following = self.text[self.pos : self.pos + 1]
        if following == "+":
            raise NotPortable(self.possessive)
        if following == "?":
            self.pos += 1
            return "?"
        return ""

    def brace(self) -> str:
        """`{n}`, `{n,}`, `{n,m}` repeat; any other `{` is a literal, as in RE2."""
        match = REPEAT.match(self.text, self.pos - 1)
        if match is None:
            return "\\{"
        self.pos = match.end()
        return match.group() + self.quantifier_suffix()

    def group(self) -> str:
        rest = self.text[self.pos :]
        if not rest.startswith("(?"):
            self.pos += 1
            return self.opened("(")
        if named := NAMED_GROUP.match(rest):
            self.pos += named.end()
            return self.opened(self.named_group)
        if rest.startswith("(?:"):
            self.pos += 3
            return self.opened("(?:")
        flagged = FLAG_GROUP.match(rest)
        if flagged is None:
            raise NotPortable(f"the group {rest[:4]!r}{self.other_group}")
        on, off, end = flagged.group(1), (flagged.group(2) or "")[1:], flagged.group(3)
        if set(on + off) - {"i"} or not self.may_change_case():
            raise NotPortable(f"the mode change {flagged.group()!r} inside the pattern")
        self.pos += flagged.end()
        return self.case_change(bool(on), bool(off), end)

    def opened(self, written: str) -> str:
        """A group opening other than a mode change, as written."""
        return written

    def may_change_case(self) -> bool:
        return True

    def case_change(self, on: bool, off: bool, end: str) -> str:
        """`(?i)`, `(?-i)` to the end of the group (`end` is `)`), or `(?i:` (`end` is `:`)."""
        raise NotImplementedError

    def escape(self, in_class: bool) -> str:
        rest = self.text[self.pos :]
        if len(rest) < 2:
            raise NotPortable("a trailing backslash")
        char = rest[1]
        if char == "x":
            match = HEX.match(rest)
            if match is None:
                raise NotPortable(f"the escape {rest[:4]!r}")
            self.pos += match.end()
            return self.hex(match)
        if char == "Q" and not in_class:
            return self.quoted()
        self.pos += 2
        if not char.isalnum():
            return "\\" + char
        if char in self.same_escapes and not (in_class and char in "Az"):
            return "\\" + char
        written = self.letter_escape(char, in_class)
        if written is None:
            suffix = " in a character class" if in_class else ""
            raise NotPortable(f"the escape \\{char}{suffix}")
        return written

    def hex(self, match: re.Match[str]) -> str:
        """`\\x41` or `\\x{263a}` (`match` of `HEX`)."""
        raise NotImplementedError

    def letter_escape(self, char: str, in_class: bool) -> str | None:
        """A backslash and the letter or digit `char` (None: the target cannot say it)."""
        raise NotImplementedError

    def quoted(self) -> str:
        """`\\Q...\\E` (or to the end) as escaped literal characters."""
        end = self.text.find("\\E", self.pos + 2)
        stop = len(self.text) if end < 0 else end
        literal = self.text[self.pos + 2 : stop]
        self.pos = len(self.text) if end < 0 else end + 2
        return "".join(self.literal(c) for c in literal)

    def literal(self, char: str) -> str:
        """One character matched literally."""
        raise NotImplementedError

    def char_class(self) -> str:
        self.pos += 1
        parts = ["["]
        if self.text.startswith("^", self.pos):
            parts.append("^")
            self.pos += 1
        first = True
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "]" and not first:
                self.pos += 1
                return "".join([*parts, "]"])
            first = False
            parts.append(self.class_item(char))
        raise NotPortable("an unterminated character class")

    def class_item(self, char: str) -> str:
        if char == "\\":
            return self.escape(in_class=True)
        if posix := POSIX.match(self.text, self.pos):
            self.pos = posix.end()
            return self.posix_class(posix.group(1) == "^", posix.group(2))
        self.pos += 1
        return "\\" + char if char in self.class_escaped else char

    def posix_class(self, negated: bool, name: str) -> str:
        """`[:name:]` (`[:^name:]` when `negated`) inside a class."""
        raise NotImplementedError
