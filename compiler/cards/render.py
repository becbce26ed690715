"""Rendering rule cards and the indicator catalog as Markdown, JSON or one HTML page."""

from __future__ import annotations

import dataclasses
import json
import re

import jinja2

from rulec.compiler.cards.card import Card, Counts
from rulec.compiler.cards.catalog import Catalog, catalog_json

CARD_VERSION = 1
MARKDOWN_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
FORMATS = ("md", "json", "html")


def card_json(card: Card) -> dict:
    """The card's stable JSON form (described by compiler/schemas/card.schema.json)."""
    return {"card_version": CARD_VERSION, **dataclasses.asdict(card)}


def corpus_text(counts: Counts | None) -> str:
    """`corpus 6 (sigma 2, kusto 4)`; empty when the catalog does not know the indicator."""
    if counts is None:
        return ""
    parts = ", ".join(f"{language} {n}" for language, n in counts.by_language.items())
    return f"corpus {counts.total} ({parts})"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rulec.compiler", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["corpus"] = corpus_text
    env.filters["by_language"] = lambda counts: ", ".join(f"{k} {v}" for k, v in counts.items())
    env.filters["md_text"] = markdown_text
    return env


def markdown_text(value: object) -> str:
    """`value` as literal Markdown text, also inside a table cell: every ASCII punctuation
    character backslash-escaped (no markup, HTML or cell break), whitespace runs as one space."""
    if value is None:
        return ""
    return MARKDOWN_PUNCTUATION.sub(r"\\\g<0>", " ".join(str(value).split()))


ENV = _environment()


def render_card(card: Card, fmt: str) -> str:
    """The card as `md`, `json` (one line) or `html` (one self-contained page)."""
    if fmt == "json":
        return json.dumps(card_json(card), ensure_ascii=False) + "\n"
    return ENV.get_template(f"card.{fmt}.j2").render(card=card)


def render_catalog(catalog: Catalog, fmt: str, top: int = 100) -> str:
    """The catalog: `json` in full; `md` and `html` its summary and `top` indicators."""
    data = catalog_json(catalog)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False) + "\n"
    rows = data["indicators"][:top]
    return ENV.get_template(f"catalog.{fmt}.j2").render(catalog=data, rows=rows, top=top)
