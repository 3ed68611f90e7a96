"""allianz adapter (in progress)."""
