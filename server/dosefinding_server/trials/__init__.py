"""Trials as a service: registration with a locked design, append-only events, derived state."""
