"""KQL's deprecated function names and the current function each lowers to.

The list is Kusto.Language's: the built-in functions it marks obsolete, with their alternative
(`Functions.All`, `Aggregates.All`). A deprecated call lowers to the current function, so every
target writes the current one (the kql target included). `replace(regex, rewrite, text)` is
`replace_regex(text, regex, rewrite)`: the text moves first.
"""

from __future__ import annotations

SCALARS = {
    "base64_decodestring": "base64_decode_tostring",
    "base64_encodestring": "base64_encode_tostring",
    "columnifexists": "column_ifexists",
    "arraylength": "array_length",
    "datepart": "datetime_part",
    "extractall": "extract_all",
    "make_string": "unicode_codepoints_to_string",
    "notempty": "isnotempty",
    "notnull": "isnotnull",
    "pack": "bag_pack",
    "pack_dictionary": "bag_pack",
    "parsejson": "parse_json",
    "parseurl": "parse_url",
    "parseurlquery": "parse_urlquery",
    "replace": "replace_regex",
    "to_utf8": "unicode_codepoints_from_string",
    "toobject": "todynamic",
    "totime": "totimespan",
    "weekofyear": "week_of_year",
}
AGGREGATES = {
    "any": "take_any",
    "anyif": "take_anyif",
    "argmax": "arg_max",
    "argmin": "arg_min",
    "cnt": "count",
    "makelist": "make_list",
    "makeset": "make_set",
}
# deprecated names whose arguments come in another order: position in the current call's order
REORDERED = {"replace": (2, 0, 1)}


def current(name: str, args: tuple) -> tuple[str, tuple]:
    """The current function for a (lower-case) scalar function name, with its arguments."""
    order = REORDERED.get(name)
    if order is not None and len(args) == len(order):
        args = tuple(args[i] for i in order)
    return SCALARS.get(name, name), args
