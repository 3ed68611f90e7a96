"""Creditsafe Connect: company search (one criteria set per call, in a waterfall), the
company report's credit score and limit (A-E / 0-100), plus an in-process sandbox.

Start with :mod:`.plugin` (factory and options), :mod:`.client` (the adapter),
:mod:`.mapping` (status, bands, defensive limit parsing) and :mod:`.sandbox` (the
simulator). ``fixtures/creditsafe/README.md`` lists what is synthetic or uncertain.
"""
