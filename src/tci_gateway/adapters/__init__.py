"""The adapter contract, the registry, and their shared types."""
