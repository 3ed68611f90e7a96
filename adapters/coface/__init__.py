"""The Coface (CofaServe) insurer adapter and its sandbox; the plugin is :mod:`.plugin`."""
