"""RE2 patterns (the reference semantics) rewritten for PostgreSQL's ARE (`~`, REGEXP_MATCHES).

Most of the syntax is shared; what ARE reads differently is rewritten with RE2's meaning:

- `\\b` is a backspace in ARE: RE2's ASCII word boundary `\\b` and `\\B` become look-arounds on
  `[0-9A-Za-z_]`; `\\d`, `\\w`, `\\s` and their negations are RE2's ASCII classes (ARE's follow
  the database's locale); `[:alpha:]` and the other POSIX classes are their ASCII ranges.
- `.` takes no newline unless under `s` (the pattern runs in ARE's default mode, where a negated
  class such as `[^a]` takes a newline, as in RE2); `\\z` is ARE's `\\Z`.
- `\\x41`, `\\x{263a}` become `\\u` escapes (ARE's `\\x` reads every hex digit that follows);
  `\\Q...\\E` becomes escaped characters; named groups become plain groups; inside a class,
  `[`, `]` and `^` are escaped (ARE reads `[.`, `[=`, `[:` as collating elements).
- ARE has no mode change inside a pattern: under `(?i)` or `(?i:...)` there, each ASCII letter
  and class is written out with RE2's case orbits (`k` also takes the Kelvin sign, `s` the long
  s); a pattern folding case as a whole keeps ARE's `(?i)`, those two orbits added.

What ARE cannot say with RE2's meaning (Unicode classes `\\pL`, other mode changes inside the
pattern, `(?-i)` in a pattern folding case as a whole, non-ASCII letters under an inner `(?i)`,
look-arounds, possessive quantifiers) raises `NotPortable`.
"""

from __future__ import annotations

import re

from rulec.backends.re2_scan import NotPortable, Re2Scanner

WORD = "0-9A-Za-z_"
SPACE = "\\t\\n\\f\\r "
CLASSES = {"d": "0-9", "w": WORD, "s": SPACE}
BOUNDARY = f"(?:(?<=[{WORD}])(?![{WORD}])|(?<![{WORD}])(?=[{WORD}]))"
NOT_BOUNDARY = f"(?:(?<=[{WORD}])(?=[{WORD}])|(?<![{WORD}])(?![{WORD}]))"
POSIX_RANGES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\u0000-\\u007f",
    "blank": "\\t ",
    "cntrl": "\\u0000-\\u001f\\u007f",
    "digit": "0-9",
    "lower": "a-z",
    "space": "\\t\\n\\u000b\\f\\r ",
    "upper": "A-Z",
    "word": WORD,
    "xdigit": "0-9A-Fa-f",
}
EXTRA_FOLDS = {"k": "\u212a", "s": "\u017f"}  # RE2's case orbits beyond ASCII


def are_regex(body: str, dot_all: bool, fold: bool = False) -> str:
    """The ARE pattern (to run in ARE's default mode, or `w` for RE2's `m`; with `(?i)` when
    `fold`) with the meaning RE2 gives `body`."""
    return AreRewriter(body, dot_all, fold).rewrite()


class AreRewriter(Re2Scanner):
    """One pass over an RE2 pattern, writing the ARE equivalent."""

    same_escapes = frozenset("tnrfvaA")

    def __init__(self, pattern: str, dot_all: bool, global_fold: bool):
        super().__init__(pattern, dot_all)
        self.global_fold = global_fold  # the whole pattern folds case (ARE's own `(?i)`)
        self.fold = False  # inside `(?i)`: ASCII letters match either case
        self.saved: list[bool] = []  # the folding to restore at each open group's end

    def plain(self, char: str) -> str:
        if char == ")":
            self.fold = self.saved.pop() if self.saved else self.fold
            return ")"
        if (self.fold and char.lower() != char.upper()) or (self.global_fold and char in "kKsS"):
            return self.either_case(char)
        return super().plain(char)

    def either_case(self, char: str) -> str:
        """An ASCII letter under `(?i)`: RE2's case orbit (`k` takes the Kelvin sign, `s` the
        long s)."""
        if not char.isascii():
            raise NotPortable(f"the non-ASCII letter {char!r} under (?i) inside the pattern")
        orbit = {char.lower(), char.upper(), *EXTRA_FOLDS.get(char.lower(), "")}
        return "[" + "".join(sorted(orbit)) + "]"

    def opened(self, written: str) -> str:
        self.saved.append(self.fold)
        return written

    def may_change_case(self) -> bool:
        return not self.global_fold

    def case_change(self, on: bool, off: bool, end: str) -> str:
        """Case folding written out letter by letter (ARE has no mode change inside a
        pattern)."""
        folded = on if on or off else self.fold
        if end == ":":
            self.saved.append(self.fold)
            self.fold = folded
            return "(?:"
        self.fold = folded
        return ""

    def escape(self, in_class: bool) -> str:
        char = self.text[self.pos + 1 : self.pos + 2]
        if self.fold and char in ("x", "Q"):
            raise NotPortable(f"the escape \\{char} under (?i) inside the pattern")
        return super().escape(in_class)

    def letter_escape(self, char: str, in_class: bool) -> str | None:
        if char.lower() in CLASSES:
            if char.islower() and in_class:
                return CLASSES[char]
            if not in_class:
                negated = "" if char.islower() else "^"
                written = f"[{negated}{CLASSES[char.lower()]}]"
                return self.fold_bracket(written) if self.fold or self.global_fold else written
        if not in_class and char in "bBz":
            return {"b": BOUNDARY, "B": NOT_BOUNDARY, "z": "\\Z"}[char]
        return None

    def hex(self, match: re.Match[str]) -> str:
        return code_point(int(match.group(1).strip("{}"), 16))

    def literal(self, char: str) -> str:
        return char if char.isalnum() else code_point(ord(char))

    def char_class(self) -> str:
        if self.fold or self.global_fold:
            return self.folded_class()
        return super().char_class()

    def folded_class(self) -> str:
        """A class under case folding: its ASCII characters listed with RE2's case orbits."""
        fold, self.fold, self.global_fold = (self.fold, self.global_fold), False, False
        try:
            written = self.char_class()
        finally:
            self.fold, self.global_fold = fold
        return self.fold_bracket(written)

    def fold_bracket(self, written: str) -> str:
        """The ARE bracket `written` with RE2's case orbits of its ASCII characters."""
        negated = written.startswith("[^")
        positive = "[" + written[2:] if negated else written
        if not self.fold and not any(re.fullmatch(positive, c) for c in "kKsS"):
            return written  # ARE's own folding of the whole pattern is RE2's there
        if any(re.fullmatch(positive, chr(c)) for c in range(128, 0x3000)):
            raise NotPortable("a class of non-ASCII characters under (?i)")
        members = {chr(c) for c in range(128) if re.fullmatch(positive, chr(c))}
        folded = set(members)
        for char in members:
            folded |= {char.lower(), char.upper(), *EXTRA_FOLDS.get(char.lower(), "")}
        return ("[^" if negated else "[") + _ranges(sorted(map(ord, folded))) + "]"

    def posix_class(self, negated: bool, name: str) -> str:
        if negated or name not in POSIX_RANGES:
            raise NotPortable(f"the character class [:{'^' if negated else ''}{name}:]")
        return POSIX_RANGES[name]


def _ranges(points: list[int]) -> str:
    """Sorted code points as the items of an ARE bracket, runs written `a-z`."""
    items: list[str] = []
    start = 0
    for n, point in enumerate(points):
        if n + 1 < len(points) and points[n + 1] == point + 1:
            continue
        first, last = points[start], point
        one = _bracket_char(first)
        items.append(one if first == last else f"{one}-{_bracket_char(last)}")
        start = n + 1
    return "".join(items)


def _bracket_char(point: int) -> str:
    char = chr(point)
    return char if char.isascii() and char.isalnum() else code_point(point)


def code_point(value: int) -> str:
    """One character by its code point, as ARE's `\\u` or `\\U` escape."""
    return f"\\u{value:04x}" if value <= 0xFFFF else f"\\U{value:08x}"


SAMPLE = range(0x3000)  # the characters whose classes are compared (RE2's classes are ASCII)
CATEGORIES = {
    "CATEGORY_DIGIT": lambda c: "0" <= c <= "9",
    "CATEGORY_WORD": lambda c: c.isascii() and (c.isalnum() or c == "_"),
    "CATEGORY_SPACE": lambda c: c in "\t\n\f\r ",
}


def same_matches(pattern: str) -> bool:
    """Whether RE2 (leftmost-first) and ARE (leftmost-longest, its greediness the first
    quantifier's) find the same matches of `pattern`, with the same captures.

    True for a sequence without alternation or case folding where each variable repetition is
    greedy, of one character, and followed by a character it cannot take (or by the end), and
    each repeated group repeats a fixed number of times: from a given start, each repetition then
    has one place to stop, so both engines match the same text, from the same leftmost start."""
    try:
        parsed = re._parser.parse(pattern)
    except re.error:
        return False
    if parsed.state.flags & re.IGNORECASE:
        return False
    try:
        return _first(list(parsed), None) is not None
    except NotPortable:
        return False


Chars = frozenset[str]


def _first(items: list, follow: Chars | None) -> Chars | None:
    """The characters the sequence `items` can start with (None: it may match empty), checking
    each repetition against what follows it (`follow`; None for the end of the pattern)."""
    for op, value in reversed(items):
        name = str(op)
        if name == "AT":
            continue
        if name in ("LITERAL", "NOT_LITERAL", "IN", "ANY"):
            follow = _chars(name, value)
        elif name == "SUBPATTERN":
            if value[1] or value[2]:
                raise NotPortable("a mode change")
            follow = _required(_first(list(value[3]), follow))
        elif name == "MAX_REPEAT":
            low, high, body = value
            follow = _repeat(low, high, list(body), follow)
        else:
            raise NotPortable(name)
    return follow


def _repeat(low: int, high: int, body: list, follow: Chars | None) -> Chars:
    if low < 1:
        raise NotPortable("an optional part")
    if len(body) == 1 and str(body[0][0]) in ("LITERAL", "NOT_LITERAL", "IN", "ANY"):
        chars = _chars(str(body[0][0]), body[0][1])
        if low != high and follow is not None and chars & follow:
            raise NotPortable("a repetition that can stop in several places")
        return chars
    if low != high:
        raise NotPortable("a group repeated a variable number of times")
    first = _required(_first(body, None))
    return _required(_first(body, first if follow is None else first | follow))


def _required(chars: Chars | None) -> Chars:
    if chars is None:
        raise NotPortable("a part that matches the empty text")
    return chars


def _chars(name: str, value: object) -> Chars:
    """The sampled characters one atom takes."""
    if name == "ANY":
        return frozenset(chr(c) for c in SAMPLE if c != 10)
    if name in ("LITERAL", "NOT_LITERAL"):
        one = chr(value)
        return frozenset({one}) if name == "LITERAL" else _others({one})
    negated = bool(value) and str(value[0][0]) == "NEGATE"
    chars: set[str] = set()
    for op, item in value[1:] if negated else value:
        kind = str(op)
        if kind == "LITERAL":
            chars.add(chr(item))
        elif kind == "RANGE":
            chars.update(chr(c) for c in range(item[0], item[1] + 1))
        elif kind == "CATEGORY" and str(item).removeprefix("CATEGORY_NOT_") != str(item):
            test = CATEGORIES["CATEGORY_" + str(item).removeprefix("CATEGORY_NOT_")]
            chars.update(chr(c) for c in SAMPLE if not test(chr(c)))
        elif kind == "CATEGORY":
            chars.update(chr(c) for c in SAMPLE if CATEGORIES[str(item)](chr(c)))
        else:
            raise NotPortable(kind)
    return _others(chars) if negated else frozenset(chars)


def _others(chars: set[str]) -> Chars:
    return frozenset(chr(c) for c in SAMPLE) - chars
