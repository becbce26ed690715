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

ANY = "(?s:.)"
NOT_NEWLINE = "[^\\n]"
RE2_SPACE = "\\t\\n\\f\\r "
WORD = "\\w"
BOUNDARY = f"(?:(?<={WORD})(?!{WORD})|(?<!{WORD})(?={WORD}))"
NOT_BOUNDARY = f"(?:(?<={WORD})(?={WORD})|(?<!{WORD})(?!{WORD}))"
REPEAT = re.compile(r"\{[0-9]+(,[0-9]*)?\}")
NAMED_GROUP = re.compile(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>")
FLAG_GROUP = re.compile(r"\(\?([A-Za-z]*)(-[A-Za-z]*)?([:)])")
PROPERTY = re.compile(r"\\[pP](\{\^?[A-Za-z_]+\}|[A-Za-z])")
HEX = re.compile(r"\\x(\{[0-9A-Fa-f]+\}|[0-9A-Fa-f]{2})")
POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")
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
SAME_ESCAPES = set("dDwWtnrfAz")
CHARACTER_ESCAPES = {"a": "\\x07", "v": "\\x0B"}


class NotPortable(ValueError):
    """An RE2 construct that Java would read differently; the message names it."""


def java_regex(body: str, flags: frozenset[str] | set[str]) -> str:
    """The Java pattern with the meaning RE2 gives `body` under `flags` (i, m, s)."""
    if "U" in flags:
        raise NotPortable("the ungreedy flag U (Java's U means Unicode classes)")
    out = Rewriter(body, dot_all="s" in flags, multi_line="m" in flags).rewrite()
    return ("(?iu)" if "i" in flags else "") + out


class Rewriter:
    """One pass over an RE2 pattern, writing the Java equivalent."""

    def __init__(self, pattern: str, dot_all: bool, multi_line: bool):
        self.text = pattern
        self.pos = 0
        self.dot_all = dot_all
        self.multi_line = multi_line

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
        if char in "*+?":
            return char + self.quantifier_suffix()
        if char == "{":
            return self.brace()
        simple = {
            ".": ANY if self.dot_all else NOT_NEWLINE,
            "^": "(?<![^\\n])" if self.multi_line else "^",
            "$": "(?![^\\n])" if self.multi_line else "\\z",
            "}": "\\}",
        }
        return simple.get(char, char)

    def quantifier_suffix(self) -> str:
        """A lazy `?` after a quantifier; a possessive `+` is refused."""
        following = self.text[self.pos : self.pos + 1]
        if following == "+":
            raise NotPortable("a possessive quantifier (RE2 rejects it, Java accepts it)")
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
            return "("
        if named := NAMED_GROUP.match(rest):
            self.pos += named.end()
            return "(?:"
        if rest.startswith("(?:"):
            self.pos += 3
            return "(?:"
        flagged = FLAG_GROUP.match(rest)
        if flagged is None:
            raise NotPortable(f"the group {rest[:4]!r} (look-arounds and atomic groups)")
        return self.flag_group(flagged)

    def flag_group(self, flagged: re.Match[str]) -> str:
        on, off, end = flagged.group(1), (flagged.group(2) or "")[1:], flagged.group(3)
        if set(on + off) - {"i"}:
            raise NotPortable(f"the mode change {flagged.group()!r} inside the pattern")
        self.pos += flagged.end()
        return "(?" + (on and "iu") + (off and "-iu") + end

    def escape(self, in_class: bool) -> str:
        rest = self.text[self.pos :]
        if len(rest) < 2:
            raise NotPortable("a trailing backslash")
        char = rest[1]
        if char in "pP" or char == "x":
            return self.coded_escape(rest)
        if char == "Q" and not in_class:
            return self.quoted()
        self.pos += 2
        if not char.isalnum():
            return "\\" + char
        if char in SAME_ESCAPES and not (in_class and char in "Az"):
            return "\\" + char
        if char in CHARACTER_ESCAPES:
            return CHARACTER_ESCAPES[char]
        if char == "s":
            return RE2_SPACE if in_class else f"[{RE2_SPACE}]"
        if char == "S" and not in_class:
            return f"[^{RE2_SPACE}]"
        if char in "bB" and not in_class:
            return BOUNDARY if char == "b" else NOT_BOUNDARY
        raise NotPortable(f"the escape \\{char}" + (" in a character class" if in_class else ""))

    def coded_escape(self, rest: str) -> str:
        """`\\x41`, `\\x{263a}`, `\\pL`, `\\p{Greek}`: Java names scripts `IsGreek`."""
        match = HEX.match(rest) or PROPERTY.match(rest)
        if match is None:
            raise NotPortable(f"the escape {rest[:4]!r}")
        self.pos += match.end()
        text = match.group()
        if text[1] == "x":
            return text
        name = match.group(1).strip("{}")
        negated = (text[1] == "P") != name.startswith("^")
        name = name.lstrip("^")
        letter = "P" if negated else "p"
        if name == "Any":
            return "[^\\x{0}-\\x{10FFFF}]" if negated else "[\\x{0}-\\x{10FFFF}]"
        if len(name) <= 2:
            return f"\\{letter}{{{name}}}"
        return f"\\{letter}{{Is{name}}}"

    def quoted(self) -> str:
        """`\\Q...\\E` (or to the end) as escaped literal characters."""
        end = self.text.find("\\E", self.pos + 2)
        stop = len(self.text) if end < 0 else end
        literal = self.text[self.pos + 2 : stop]
        self.pos = len(self.text) if end < 0 else end + 2
        return "".join(literal_char(c) for c in literal)

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
            negated, name = posix.groups()
            self.pos = posix.end()
            if name == "word":
                return "\\W" if negated else "\\w"
            if name not in POSIX_NAMES:
                raise NotPortable(f"the character class [:{name}:]")
            return f"\\{'P' if negated else 'p'}{{{POSIX_NAMES[name]}}}"
        self.pos += 1
        return "\\" + char if char in "[]&^" else char


def literal_char(char: str) -> str:
    """One character matched literally by Java."""
    return char if char.isalnum() or char == " " or not char.isascii() else "\\" + char
