"""Many rules over the same events in one pass: who could match, then exact filters in batches."""
