"""Running rules over events: the reference executor, each target's engine, events, golden cases."""
