"""For the ERP: covered limits, buyers and open items batches, exposure, alerts."""

from __future__ import annotations

from fastapi import APIRouter

from tci_gateway.api.problems import COMMON_PROBLEMS

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS)
