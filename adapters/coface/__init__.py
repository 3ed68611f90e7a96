"""coface adapter (in progress)."""
