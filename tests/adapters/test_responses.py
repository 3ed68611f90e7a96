"""The toolkit's error-mapping helpers."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from tci_gateway.adapters.responses import (
    describe,
    none_if_not_found,
    parse_answer,
    parse_model,
    record_error,
    unreadable,
)
from tci_gateway.errors import NotFoundError, ProtocolError, RecordError, RejectedError
from tci_gateway.http.client import ApiResponse


class Thing(BaseModel):
    id: str
    amount: int


class Unmappable(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


RESPONSE = ApiResponse(200, {}, {}, "corr-1", None)


def _raise(error: Exception) -> None:
    raise error


def test_none_if_not_found() -> None:
    assert none_if_not_found(lambda: 7) == 7
    assert none_if_not_found(lambda: _raise(NotFoundError("gone", status=404))) is None
    with pytest.raises(RejectedError):
        none_if_not_found(lambda: _raise(RejectedError("no", status=422)))


def test_none_if_not_found_coded_only_raises_a_bare_404() -> None:
    coded = NotFoundError("unknown job", status=404, code="NOT_FOUND")
    assert none_if_not_found(lambda: _raise(coded), coded_only=True) is None
    bare = NotFoundError("Not Found", status=404)
    with pytest.raises(NotFoundError):
        none_if_not_found(lambda: _raise(bare), coded_only=True)


def test_parse_model_maps_a_validation_error_to_one_line() -> None:
    assert parse_model(Thing.model_validate, {"id": "a", "amount": 1}, "x", adapter="t").id == "a"
    with pytest.raises(ProtocolError) as caught:
        parse_model(
            Thing.model_validate,
            {"amount": "lots"},
            "unreadable thing",
            adapter="t",
            response=RESPONSE,
        )
    error = caught.value
    assert error.message == "unreadable thing: id: Field required (and 1 more)"
    assert "\n" not in str(error)
    assert (error.adapter, error.status, error.correlation_id) == ("t", 200, "corr-1")
    assert isinstance(error.__cause__, ValidationError)


def test_unreadable_catches_only_what_it_is_told() -> None:
    with (
        pytest.raises(ProtocolError, match="unreadable policy: no currency"),
        unreadable("unreadable policy", adapter="t", also=(Unmappable,)),
    ):
        raise Unmappable("currency", "no currency")
    with pytest.raises(Unmappable), unreadable("unreadable policy", adapter="t"):
        raise Unmappable("currency", "no currency")


def test_record_error_from_a_validation_error_and_a_mapping_error() -> None:
    try:
        Thing.model_validate({"id": "a", "amount": "lots"})
    except ValidationError as exc:
        assert record_error("src", 3, exc, "buyer 9: ") == RecordError(
            "src",
            3,
            "amount",
            "buyer 9: Input should be a valid integer, unable to parse string as an integer",
        )
    error = record_error("src", 4, Unmappable("currency", "no currency"))
    assert error == RecordError("src", 4, "currency", "no currency")


def test_describe_any_error_is_one_line() -> None:
    assert describe(ValueError("two\nlines")) == "two lines"


def test_parse_answer_reads_the_whole_payload_with_the_answers_context() -> None:
    answer = ApiResponse(201, {"id": "a", "amount": "x"}, {}, "corr-2", None)
    with pytest.raises(ProtocolError) as caught:
        parse_answer(Thing.model_validate, answer, "unreadable thing", adapter="t")
    assert caught.value.message == "unreadable thing: amount: " + (
        "Input should be a valid integer, unable to parse string as an integer"
    )
    assert (caught.value.status, caught.value.correlation_id) == (201, "corr-2")
    good = ApiResponse(200, {"id": "b", "amount": 2}, {}, "c", None)
    assert parse_answer(Thing.model_validate, good, "x", adapter="t").amount == 2
