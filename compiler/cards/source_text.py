"""Slicing a rule's text by the line spans of its IR nodes: stage, block and statement text."""

from __future__ import annotations

import textwrap

CLOSERS = {")", ");", ";"}


def strip_kql_comment(line: str) -> str:
    """The line without a trailing `//` comment (string literals, verbatim or not, kept)."""
    quote: str | None = None
    verbatim = False
    i = 0
    while i < len(line):
        char = line[i]
        if quote:
            if char == "\\" and not verbatim:
                i += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote, verbatim = char, i > 0 and line[i - 1] == "@"
        elif line.startswith("//", i):
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


def tidy(lines: list[str], strip_comments: bool = False, drop_closers: bool = True) -> str:
    """Dedented text without trailing blank or comment lines (nor a closing `)` / `);`)."""
    if strip_comments:
        lines = [strip_kql_comment(line) for line in lines]
    lines = [line.rstrip() for line in lines]
    while lines and (_is_filler(lines[-1]) or (drop_closers and lines[-1].strip() in CLOSERS)):
        lines.pop()
    while lines and _is_filler(lines[0]):
        lines.pop(0)
    return textwrap.dedent("\n".join(lines))


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("//") or stripped.startswith("#")


def span_lines(lines: list[str], first: int | None, last: int | None) -> list[str]:
    """Lines `first`..`last` (1-based, inclusive); empty when the span is unknown."""
    if first is None or first < 1:
        return []
    last = max(first, last if last is not None else first)
    return lines[first - 1 : last]


def yaml_block(lines: list[str], line: int) -> tuple[str, int, int] | None:
    """The Sigma detection item around `line`: its name and first and last lines (1-based)."""
    child = _detection_indent(lines)
    if child is None or not 1 <= line <= len(lines):
        return None
    header = line
    while header >= 1 and not _is_item(lines[header - 1], child):
        header -= 1
    if header < 1:
        return None
    end = header
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > child):
        end += 1
    while end > header and not lines[end - 1].strip():
        end -= 1
    name = lines[header - 1].strip().split(":", 1)[0].strip("'\"")
    return name, header, end


def _detection_indent(lines: list[str]) -> int | None:
    """The indentation of the items under Sigma's `detection:` key."""
    for number, line in enumerate(lines):
        if line.rstrip() == "detection:":
            for item in lines[number + 1 :]:
                if item.strip() and not item.lstrip().startswith("#"):
                    return _indent(item)
    return None


def _is_item(line: str, indent: int) -> bool:
    return bool(line.strip()) and _indent(line) == indent and not line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def condition_text(lines: list[str], line: int | None, column: int | None) -> str:
    """A Sigma condition as written: the value of its `condition:` line."""
    text = "".join(span_lines(lines, line, line))
    text = text[column - 1 :] if column and column > 1 else text.split("condition:", 1)[-1]
    return text.strip().strip("'\"")
