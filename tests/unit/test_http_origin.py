"""Where the client reached the API, as links in responses need it (export downloads): API Gateway's Host header,
X-Forwarded-Proto and the request context's path (which keeps the stage or a custom domain's base path)."""

from __future__ import annotations

import pytest

from backinstock import dispatch, registry
from backinstock.api.http import origin_of

pytestmark = pytest.mark.unit
PATH = "/api/v2/external/back_in_stock/reports/exports/exp_1"


def gateway_event(host: str | None, context_path: str, proto: str | None = "https") -> dict[str, object]:
    headers = {k: v for k, v in {"Host": host, "X-Forwarded-Proto": proto}.items() if v}
    return {"path": PATH, "headers": headers, "requestContext": {"path": context_path}}


def test_the_stage_of_the_execute_api_url_is_kept() -> None:
    event = gateway_event("abc.execute-api.eu-west-1.amazonaws.com", "/prod" + PATH)
    assert origin_of(event) == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"


def test_a_custom_domain_keeps_its_base_path_and_a_bare_one_has_none() -> None:
    assert origin_of(gateway_event("api.example.com", "/stoq" + PATH)) == "https://api.example.com/stoq"
    assert origin_of(gateway_event("api.example.com", PATH)) == "https://api.example.com"


def test_without_a_host_the_origin_is_unknown_and_links_stay_relative() -> None:
    assert origin_of(gateway_event(None, "/prod" + PATH)) == ""


def test_the_local_run_and_in_process_calls_build_the_same_shape() -> None:
    action = registry.by_name("get_report_export")
    for origin in ("http://127.0.0.1:4280", "https://abc.execute-api.eu-west-1.amazonaws.com/prod"):
        event = dispatch.proxy_event(action, "GET", PATH, path_params={"job_id": "exp_1"}, origin=origin)
        assert origin_of(event) == origin


# ------------------------------------------------------------------------------------------- repeated parameters
def test_a_list_field_takes_every_value_of_a_repeated_parameter_and_other_fields_one() -> None:
    from pydantic import BaseModel, ConfigDict, Field

    from backinstock.api.validation import parse_query

    class Query(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)
        offer_ids: list[str] | None = Field(default=None, alias="offer_ids[]")
        currency: str | None = None

    single = {"offer_ids[]": "b", "currency": "EUR"}
    repeated = {"offer_ids[]": ["a", "b"], "currency": ["EUR"]}
    assert parse_query(Query, single, repeated).offer_ids == ["a", "b"]
    assert parse_query(Query, {"offer_ids[]": "a"}, None).offer_ids == ["a"]
    assert parse_query(Query, {"currency": "EUR"}, {"currency": ["EUR"]}).offer_ids is None


def test_a_repeated_parameter_reaches_the_event_as_api_gateway_sends_it() -> None:
    action = registry.by_name("list_signups")
    event = dispatch.proxy_event(action, "GET", "/api/v2/external/back_in_stock/signups", query={"x": ["1", "2"]})
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
