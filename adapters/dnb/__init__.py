"""Dun & Bradstreet Direct+: identity resolution (cleanseMatch, confidence code and match
grade kept raw), data blocks by DUNS (registration numbers crosswalk, corporate linkage,
failure score, rating, recommended limit, PAYDEX), plus an in-process sandbox.

Start with :mod:`.plugin` (factory and options), :mod:`.client` (the adapter),
:mod:`.mapping` (crosswalk table, sites, missing blocks) and :mod:`.sandbox` (the
simulator). ``fixtures/dnb/README.md`` lists what is synthetic or uncertain.
"""
