"""Insurer callbacks: a hint that a job changed, never trusted for figures."""

from __future__ import annotations

from fastapi import APIRouter

from tci_gateway.api.problems import COMMON_PROBLEMS

router = APIRouter(prefix="/v1", responses=COMMON_PROBLEMS)
