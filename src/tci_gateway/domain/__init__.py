"""The domain: pure code, no I/O. Money, identifiers, cover, exposure and their rules."""
