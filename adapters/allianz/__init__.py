"""Allianz Trade (ex Euler Hermes): buyer search, asynchronous cover requests (V3 jobs),
the covers portfolio, payment overdues and callback webhooks, plus an in-process sandbox.

Start with :mod:`.plugin` (factory and options), :mod:`.client` (the adapter) and
:mod:`.sandbox` (the simulator). ``fixtures/allianz/README.md`` lists every field and
code that is synthetic or uncertain.
"""
