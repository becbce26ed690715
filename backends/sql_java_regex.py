"""RE2 patterns (the reference semantics) rewritten for java.util.regex (Spark's RLIKE).

The two syntaxes look alike but mean different things in places. This module rewrites each RE2
construct into Java text with RE2's meaning, independent of Java's mode flags:

- `.` is `[^\\n]` (Java's excludes `\\r`, `\\u0085`, `\\u2028`, `\\u2029` too), or any character
  under `s`; `$` is `\\z` (Java's also matches before a final line terminator); under `m`, `^` and
  `$` are look-arounds on `\\n` only.
- `\\s` is RE2's `[\\t\\n\\f\\r ]` (Java adds `\\x0B`); `\\b` and `\\B` are ASCII word boundaries
  (Java 17's are Unicode-aware); `\\v` and `\\a` are their single characters.
- Case-insensitive matching folds Unicode (`(?iu)`), as RE2's does.
- Inside a class, `[` and `&` are literals (Java nests and intersects); POSIX classes such as
  `[:alpha:]` become `\\p{Alpha}`; a `{` that does not start a repetition is a literal.
- `\\Q...\\E` becomes escaped characters; named groups become plain groups.

What has no RE2 meaning to keep (look-arounds, backreferences, possessive quantifiers, atomic
groups, which RE2 rejects and Java accepts) or whose scope this rewriter does not track (a mode
change in the middle of a pattern) raises `NotPortable`.
"""

from __future__ import annotations

import re

from rulec.backends.re2_scan import NotPortable, Re2Scanner

RE2_SPACE = "\\t\\n\\f\\r "
WORD = "\\w"
BOUNDARY = f"(?:(?<={WORD})(?!{WORD})|(?<!{WORD})(?={WORD}))"
NOT_BOUNDARY = f"(?:(?<={WORD})(?={WORD})|(?<!{WORD})(?!{WORD}))"
PROPERTY = re.compile(r"\\[pP](\{\^?[A-Za-z_]+\}|[A-Za-z])")
POSIX_NAMES = {
    "alnum": "Alnum",
    "alpha": "Alpha",
    "ascii": "ASCII",
    "blank": "Blank",
    "cntrl": "Cntrl",
    "digit": "Digit",
    "graph": "Graph",
    "lower": "Lower",
    "print": "Print",
    "punct": "Punct",
    "space": "Space",
    "upper": "Upper",
    "xdigit": "XDigit",
}
CHARACTER_ESCAPES = {"a": "\\x07", "v": "\\x0B"}


def java_regex(body: str, flags: frozenset[str] | set[str]) -> str:
    """The Java pattern with the meaning RE2 gives `body` under `flags` (i, m, s)."""
    if "U" in flags:
        raise NotPortable("the ungreedy flag U (Java's U means Unicode classes)")
    out = Rewriter(body, dot_all="s" in flags, multi_line="m" in flags).rewrite()
    return ("(?iu)" if "i" in flags else "") + out


class Rewriter(Re2Scanner):
    """One pass over an RE2 pattern, writing the Java equivalent."""

    any_char = "(?s:.)"
    named_group = "(?:"
    same_escapes = frozenset("dDwWtnrfAz")
    class_escaped = "[]&^"
    possessive = "a possessive quantifier (RE2 rejects it, Java accepts it)"
    other_group = " (look-arounds and atomic groups)"

    def __init__(self, pattern: str, dot_all: bool, multi_line: bool):
        super().__init__(pattern, dot_all)
        self.multi_line = multi_line

    def plain(self, char: str) -> str:
        if char == "^":
            return "(?<![^\\n])" if self.multi_line else "^"
        if char == "$":
            return "(?![^\\n])" if self.multi_line else "\\z"
        return super().plain(char)

    def case_change(self, on: bool, off: bool, end: str) -> str:
        return "(?" + ("iu" if on else "") + ("-iu" if off else "") + end

    def escape(self, in_class: bool) -> str:
        if self.text.startswith(("\\p", "\\P"), self.pos):
            return self.property()
        return super().escape(in_class)

    def property(self) -> str:
        """`\\pL`, `\\p{Greek}`: Java names scripts `IsGreek`."""
        match = PROPERTY.match(self.text, self.pos)
        if match is None:
            raise NotPortable(f"the escape {self.text[self.pos : self.pos + 4]!r}")
        self.pos = match.end()
        text = match.group()
        name = match.group(1).strip("{}")
        negated = (text[1] == "P") != name.startswith("^")
        name = name.lstrip("^")
        letter = "P" if negated else "p"
        if name == "Any":
            return "[^\\x{0}-\\x{10FFFF}]" if negated else "[\\x{0}-\\x{10FFFF}]"
        if len(name) <= 2:
            return f"\\{letter}{{{name}}}"
        return f"\\{letter}{{Is{name}}}"

    def letter_escape(self, char: str, in_class: bool) -> str | None:
        if char in CHARACTER_ESCAPES:
            return CHARACTER_ESCAPES[char]
        if char == "s":
            return RE2_SPACE if in_class else f"[{RE2_SPACE}]"
        if char == "S" and not in_class:
            return f"[^{RE2_SPACE}]"
        if char in "bB" and not in_class:
            return BOUNDARY if char == "b" else NOT_BOUNDARY
        return None

    def hex(self, match: re.Match[str]) -> str:
        return match.group()

    def literal(self, char: str) -> str:
        return literal_char(char)

    def posix_class(self, negated: bool, name: str) -> str:
        if name == "word":
            return "\\W" if negated else "\\w"
        if name not in POSIX_NAMES:
            raise NotPortable(f"the character class [:{name}:]")
        return f"\\{'P' if negated else 'p'}{{{POSIX_NAMES[name]}}}"


def literal_char(char: str) -> str:
    """One character matched literally by Java."""
    return char if char.isalnum() or char == " " or not char.isascii() else "\\" + char
