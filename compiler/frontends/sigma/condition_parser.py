"""Sigma condition texts parsed into pySigma's own parse trees, without pyparsing.

pySigma's grammar (`sigma.conditions.condition`) costs about two million processor instructions
per text through pyparsing. This recursive-descent parser reads the same language into the same
trees, pyparsing's quirks included: `not`, `and` and `or` are plain literals that need no space
after them (`notepad` reads as `not epad`, as in pySigma), while `1`/`any`/`all` and `of` are
whole words; names are ASCII letters, digits, `_` and `-`, selector patterns letters, digits, `_`
and `*`. A text it does not accept is left to pySigma (None), whose error or tree is then the
answer; tests/test_sigma_condition.py checks both parsers agree on random texts.
"""

from __future__ import annotations

import string

from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
)

NAME = frozenset(string.ascii_letters + string.digits + "_-")
PATTERN = frozenset(string.ascii_letters + string.digits + "_*")
WORD = frozenset(string.ascii_letters + string.digits + "_$")  # what may not touch a keyword
SPACE = frozenset(" \t\n\r")
QUANTIFIERS = ("1", "any", "all")

PRECEDENCE = {"not": 30, "and": 20, "or": 10}
LINKS: dict[str, type[ConditionItem]] = {"and": ConditionAND, "or": ConditionOR}


def parse_condition(text: str) -> ConditionItem | None:
    """pySigma's parse tree of a whole condition text, or None if this parser cannot read it.

    Operator precedence as pyparsing's `infix_notation` parses it: one pass, no backtracking;
    where an operand is expected, `not`, else an operand, else `(`; where an operator is
    expected, `)` (inside brackets), else `and`, else `or`, else the end. Runs of one binary
    operator make one node (`a and b and c` has three arguments).
    """
    reader = _Reader(text)
    operands: list[ConditionItem] = []
    operators: list[list] = []  # ["not"], ["("], or [binary operator, how many in a row]

    def reduce(above: int) -> None:
        while operators and operators[-1][0] != "(" and PRECEDENCE[operators[-1][0]] > above:
            operator = operators.pop()
            if operator[0] == "not":
                operands.append(ConditionNOT([operands.pop()]))
            else:
                args = operands[len(operands) - operator[1] - 1 :]
                del operands[len(operands) - operator[1] - 1 :]
                operands.append(LINKS[operator[0]](args))

    at, expect_operand, depth = 0, True, 0
    while True:
        at = reader.skip(at)
        if expect_operand and text.startswith("not", at):
            operators.append(["not"])
            at += 3
        elif expect_operand:
            parsed = reader.operand(at)
            if parsed is not None:
                operands.append(parsed[0])
                at, expect_operand = parsed[1], False
            elif text.startswith("(", at):
                operators.append(["("])
                at, depth = at + 1, depth + 1
            else:
                return None
        elif depth and text.startswith(")", at):
            reduce(-1)
            operators.pop()
            at, depth = at + 1, depth - 1
        elif word := next((w for w in LINKS if text.startswith(w, at)), None):
            reduce(PRECEDENCE[word])
            if operators and operators[-1][0] == word:
                operators[-1][1] += 1
            else:
                operators.append([word, 1])
            at, expect_operand = at + len(word), True
        else:
            break
    reduce(-1)
    if depth or operators or len(operands) != 1 or reader.skip(at) != len(text):
        return None
    return operands[0]


class _Reader:
    """The operands of a condition text: a selector (`1 of pattern`), else a name."""

    def __init__(self, text: str):
        self.text = text

    def operand(self, at: int) -> tuple[ConditionItem, int] | None:
        selector = self.selector(at)
        if selector is not None:
            return selector
        end = self._run(at, NAME)
        return (ConditionIdentifier([self.text[at:end]]), end) if end > at else None

    def selector(self, at: int) -> tuple[ConditionItem, int] | None:
        quantifier = next((q for q in QUANTIFIERS if self._keyword(at, q)), None)
        if quantifier is None:
            return None
        of = self.skip(at + len(quantifier))
        if not self._keyword(of, "of"):
            return None
        start = self.skip(of + 2)
        end = self._run(start, PATTERN)
        if end == start:
            return None
        return ConditionSelector([quantifier, self.text[start:end]]), end

    def skip(self, at: int) -> int:
        return self._run(at, SPACE)

    def _run(self, at: int, chars: frozenset[str]) -> int:
        text = self.text
        while at < len(text) and text[at] in chars:
            at += 1
        return at

    def _keyword(self, at: int, word: str) -> bool:
        text, end = self.text, at + len(word)
        return (
            text.startswith(word, at)
            and (end == len(text) or text[end] not in WORD)
            and (at == 0 or text[at - 1] not in WORD)
        )
