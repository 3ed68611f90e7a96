"""Shared HTTP machinery: the client base class, auth strategies, the retry table."""
