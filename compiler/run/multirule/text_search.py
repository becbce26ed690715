"""Which of many texts each of many values holds, for all the values of a batch at once.

One Aho-Corasick automaton (`ahocorasick-rs`, in Rust, which lets other Python threads run while
it searches) runs over the batch's values joined into one UTF-8 byte string by a character no
text holds, so that no text is found across two values; each occurrence is mapped back to its
value by its offset. UTF-8 is self-synchronising, so a text's bytes occur in the joined string
only where the text itself occurs in a value.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate, groupby
from operator import itemgetter

from ahocorasick_rs import BytesAhoCorasick, MatchKind


class TextSearch:
    """Numbered texts (none empty) to look for in values, all of their occurrences."""

    def __init__(self, numbers: Mapping[str, int]):
        words = list(numbers)
        self.numbers = [numbers[word] for word in words]
        held = set().union(*words)
        self.separator = next(c for c in map(chr, range(1, 0x110000)) if c not in held)
        self.width = len(self.separator.encode())
        encoded = [word.encode() for word in words]
        self.automaton = BytesAhoCorasick(encoded, matchkind=MatchKind.Standard)

    def held(self, values: Sequence[str]) -> dict[int, tuple[int, ...]]:
        """The position of each value that holds some text, with the numbers of those texts
        in order (tuples: the collector stops tracking a tuple of numbers, not a list)."""
        if not values or not self.numbers:
            return {}
        joined = self.separator.join(values)
        ascii_only = joined.isascii()
        lengths = (len(v) if ascii_only else len(v.encode()) for v in values)
        starts = list(accumulate((length + self.width for length in lengths), initial=0))
        numbers = self.numbers
        found = sorted(
            {
                (bisect_right(starts, start) - 1, numbers[word])
                for word, start, _ in self.automaton.find_matches_as_indexes(
                    joined.encode(), overlapping=True
                )
            }
        )
        return {
            position: tuple(number for _, number in held)
            for position, held in groupby(found, key=itemgetter(0))
        }
