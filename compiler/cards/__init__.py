"""Rule cards: what an analyst reviewing a rule needs, the catalog of a corpus's indicators,
and what an edit changed."""
