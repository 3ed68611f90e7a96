"""What a limit sync's ``cover_missing`` check found, kept so a rerun need not redo it
(migration 0016).

The check (``services.sync``) walks every buyer with cover history under a policy and
keeps those whose insurer id the run's staged snapshot does not list: a walk over the
whole portfolio. Its answer depends only on that snapshot, the policy's cover history
and the buyers' insurer ids, not on the day (the day decides only which of the buyers
found still have a limit in force). So it is recorded:

- ``unlisted_checks``: per policy, the run whose snapshot was checked (``listed_by``);
- ``unlisted_buyers``: the buyers that check found, per policy.

A run whose snapshot hashes the same as that run's (``ledger.staging.baseline_run``:
no version of the policy recorded since) reads the buyers found instead of walking the
portfolio. Triggers (migration 0016) delete a policy's ``unlisted_checks`` row when an
input changes outside a sync's own transaction: an insurer id added, changed or deleted
(every policy's), a cover version moved or deleted (that policy's). A version added is
caught by the baseline's own condition. Found rows are trusted only beside their check
row and replaced whenever the check is recorded again.

The baseline itself counts only while its check holds: after an insurer id changed, the
same records may name other buyers (a relinked id names a new one), so the next run
reconciles in full and records its own check.

Re-exported from :mod:`tci_gateway.ledger.tables` so that module stays the whole schema.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from tci_gateway.ledger.base import Base


class UnlistedCheckRow(Base):
    """A policy whose ``cover_missing`` check of run ``listed_by``'s snapshot still holds."""

    __tablename__ = "unlisted_checks"

    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), primary_key=True)
    listed_by: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"))


class UnlistedBuyerRow(Base):
    """A buyer with cover history under the policy that the checked snapshot did not list
    (whether its limit is in force is judged on the day of each run)."""

    __tablename__ = "unlisted_buyers"

    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), primary_key=True)
    buyer_id: Mapped[int] = mapped_column(
        ForeignKey("buyers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
