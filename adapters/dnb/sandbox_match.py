"""The D&B sandbox's cleanseMatch: candidates with a confidence code and a match grade.

Deterministic rules (synthetic; D&B's own matching is proprietary):

* a registration number equal (ignoring spaces and punctuation) to one of the
  organization's scores 10;
* otherwise the name: the same words score 8, all the asked words present 6, at least
  half of them 4, fewer nothing; a matching postcode adds 1, a matching city 1 (at most 9);
* a postcode or city that differs takes 1 off.

The match grade has one letter per component (name, street number, street, city, state,
PO box, phone, postcode, density, uniqueness, SIC): A same, B similar, F different, Z not
asked. Candidates below ``confidenceLowerLevelThresholdValue`` are left out; at most
``candidateMaximumQuantity`` (default 5) come back, best first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

MATCH_PARAMS = frozenset(
    {
        "name",
        "countryISOAlpha2Code",
        "streetAddressLine1",
        "addressLocality",
        "addressRegion",
        "postalCode",
        "telephoneNumber",
        "registrationNumber",
        "candidateMaximumQuantity",
        "confidenceLowerLevelThresholdValue",
    }
)
_PROFILE = "0000000000989800000000009898"  # synthetic matchDataProfile
_COMPONENTS = (  # the match grade's letters, in order
    "name",
    "number",
    "street",
    "city",
    "state",
    "pobox",
    "phone",
    "post",
    "density",
    "uniq",
    "sic",
)
_IDENTITY = (
    "duns",
    "primaryName",
    "tradeStyleNames",
    "primaryAddress",
    "registrationNumbers",
    "dunsControlStatus",
    "corporateLinkage",
)


class Refused(Exception):
    """A request the sandbox refuses: served as the D&B error envelope."""

    def __init__(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", text).casefold())


def _compact(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


def _int(params: httpx.QueryParams, name: str, default: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) > high:
        raise Refused(400, "10001", "Invalid parameter", [{"parameter": name}])
    return int(raw)


def _score(org: Mapping[str, Any], params: httpx.QueryParams) -> tuple[int, str]:
    address = org.get("primaryAddress") or {}
    grade = dict.fromkeys(_COMPONENTS, "Z")
    confidence = 0
    wanted_reg = _compact(params.get("registrationNumber", ""))
    numbers = {
        _compact(str(r.get("registrationNumber"))) for r in org.get("registrationNumbers", [])
    }
    if wanted_reg and wanted_reg in numbers:
        confidence = 10
    if "name" in params:
        asked, have = _words(params["name"]), _words(str(org.get("primaryName") or ""))
        common = sum(1 for w in asked if w in have)
        if asked and asked == have:
            name_score, grade["name"] = 8, "A"
        elif asked and common == len(asked):
            name_score, grade["name"] = 6, "B"
        elif asked and common * 2 >= len(asked):
            name_score, grade["name"] = 4, "B"
        else:
            name_score, grade["name"] = 0, "F"
        confidence = max(confidence, name_score)
    bonus = 0
    for param, key, value in (
        ("postalCode", "post", str(address.get("postalCode") or "")),
        ("addressLocality", "city", str((address.get("addressLocality") or {}).get("name") or "")),
    ):
        if param in params:
            same = _compact(params[param]) == _compact(value)
            grade[key] = "A" if same else "F"
            bonus += 1 if same else -1
    if 0 < confidence < 10:
        confidence = max(1, min(9, confidence + bonus))
    return confidence, "".join(grade.values())


def match(orgs: Iterable[Mapping[str, Any]], params: httpx.QueryParams) -> list[dict[str, Any]]:
    """The cleanseMatch candidates for ``params`` (refused when malformed)."""
    country = params.get("countryISOAlpha2Code", "").strip().upper()
    if len(country) != 2:
        raise Refused(400, "10001", "countryISOAlpha2Code is required")
    if not params.get("name") and not params.get("registrationNumber"):
        raise Refused(400, "10001", "name or registrationNumber is required")
    maximum = _int(params, "candidateMaximumQuantity", 5, 25)
    threshold = _int(params, "confidenceLowerLevelThresholdValue", 1, 10)
    scored = []
    for org in orgs:
        org_country = ((org.get("primaryAddress") or {}).get("addressCountry") or {}).get(
            "isoAlpha2Code"
        ) or org.get("countryISOAlpha2Code")
        if str(org_country).upper() != country:
            continue
        confidence, grade = _score(org, params)
        if confidence >= max(1, threshold):
            scored.append((confidence, str(org["duns"]), grade, org))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [
        {
            "displaySequence": index,
            "organization": {k: org[k] for k in _IDENTITY if k in org},
            "matchQualityInformation": {
                "confidenceCode": confidence,
                "matchGrade": grade,
                "matchGradeComponentsCount": len(grade),
                "matchDataProfile": _PROFILE,
            },
        }
        for index, (confidence, _duns, grade, org) in enumerate(scored[:maximum], start=1)
    ]
