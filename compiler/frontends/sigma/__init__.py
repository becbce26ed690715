"""The Sigma front end: YAML documents with their spans, lowered through pySigma into the IR."""
