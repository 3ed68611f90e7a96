"""GLEIF LEI API: a free, keyless company register (JSON:API) used as a bureau.

Search by LEI, by national registration number (``entity.registeredAs``) or by name,
parents (direct and ultimate), and the crosswalk from an LEI record to a national
identifier through a configurable registration-authority table. No assessments.

Start with :mod:`.plugin` (factory and options), :mod:`.client` (the adapter),
:mod:`.mapping` (the crosswalk table) and :mod:`.sandbox` (the simulator).
``fixtures/gleif/README.md`` says which records are real-shaped and which facts are
uncertain.
"""
