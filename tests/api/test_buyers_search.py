"""GET /v1/buyers/search: the fan-out of `tci buyers search` across the sandboxes of
config/sandbox.toml (three insurers, three bureaus)."""

from __future__ import annotations

from typing import Any

from .conftest import ApiHarness


def _search(api: ApiHarness, query: str, **headers: str) -> Any:
    response = api.client.get(f"/v1/buyers/search?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_fan_out_across_insurers_and_bureaus(api: ApiHarness) -> None:
    key = api.key("buyers:read")
    body = _search(api, "country=fr&id=FR_SIREN:123%20456%20782", **key)
    assert body["ok"] is True
    sources = {s["source"]: s for s in body["sources"]}
    assert set(sources) == {"atradius", "allianz", "coface", "gleif", "creditsafe", "dnb"}
    assert {s["kind"] for n, s in sources.items() if n in ("gleif", "creditsafe", "dnb")} == {
        "bureau"
    }
    assert all(s["status"] == "ok" and s["error"] is None for s in sources.values())
    # the insurers and bureaus that know this SIREN answer one legal entity
    (candidate,) = body["candidates"]
    assert candidate["country"] == "FR"
    assert candidate["insurer_ids"] == {
        "allianz": "400000001",
        "coface": "71234567",
        "gleif": "9695000TCIGWFRANC069",
        "creditsafe": "FR-X-12345678200015",
    }
    assert {"scheme": "FR_SIREN", "issuer": None, "value": "123456782"} in candidate["identifiers"]
    assert {s: sources[s]["matches"] for s in sources} == {
        "allianz": 1,
        "atradius": 0,
        "coface": 1,
        "creditsafe": 1,
        "dnb": 0,
        "gleif": 1,
    }
    # named insurers only: no bureau is asked
    only = _search(api, "country=FR&id=FR_SIREN:123456782&insurer=coface&insurer=atradius", **key)
    assert [s["source"] for s in only["sources"]] == ["atradius", "coface"]
    (candidate,) = only["candidates"]
    assert candidate["insurer_ids"] == {"coface": "71234567"}


def test_search_by_name_at_the_insurers(api: ApiHarness) -> None:
    key = api.key("buyers:read")
    body = _search(api, "country=FR&name=Exemple%20Industries", **key)
    assert any(c["name"] == "Exemple Industries SAS" for c in body["candidates"])


def test_bad_searches_are_refused_with_the_field(api: ApiHarness) -> None:
    key = api.key("buyers:read")
    for query, field in (
        ("country=FR", "id"),
        ("country=FR&id=FR_SIREN:123", "id"),
        ("country=FR&id=NOPE:1", "id"),
        ("country=FR&id=INSURER:atradius:1", "id"),
        ("country=FR&name=x&insurer=nobody", "insurer"),
    ):
        response = api.client.get(f"/v1/buyers/search?{query}", headers=key)
        assert response.status_code == 422, query
        assert response.json()["errors"][0]["field"] == field, query
    for query in ("name=x", "country=FRA&name=x", "country=FR&name=x&timeout=0"):
        assert api.client.get(f"/v1/buyers/search?{query}", headers=key).status_code == 422
    assert api.client.get("/v1/buyers/search?country=FR&name=x").status_code == 401
    erp = api.key("items:write")
    assert api.client.get("/v1/buyers/search?country=FR&name=x", headers=erp).status_code == 403


for _test in (
    test_fan_out_across_insurers_and_bureaus,
    test_search_by_name_at_the_insurers,
    test_bad_searches_are_refused_with_the_field,
):
    _test.sqlite_only = True  # type: ignore[attr-defined]  # the ledger plays no part
