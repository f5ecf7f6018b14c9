"""The REST API: routes equal the registry, authorizers, gateway responses in the API's envelope, the stage."""

from __future__ import annotations

import json

import pytest

from backinstock import infra_spec, registry
from backinstock.api.http import not_found_message
from backinstock.registry import Auth
from tests.infra.template import Synth, getatt_target, methods, not_allowed_methods, registry_routes

pytestmark = pytest.mark.infra


def test_routes_equal_the_registry(synth: Synth) -> None:
    # Given every path (main, extra, `/help`) of every action, under the base path
    expected = registry_routes()
    assert ("GET", "/api/v2/external/back_in_stock/settings/help") in expected
    # Then the template has exactly those (method, path) pairs: nothing missing, nothing extra
    assert set(methods(synth)) == expected


def test_a_method_no_action_declares_answers_405_with_allow_on_every_path_that_has_routes(synth: Synth) -> None:
    from stacks.constructs.api import method_not_allowed_template

    # Given the methods the registry declares on each path
    declared: dict[str, set[str]] = {}
    for method, path in registry_routes():
        declared.setdefault(path, set()).add(method)
    answers = not_allowed_methods(synth)
    # Then each of those paths, and only those (an unknown path stays API Gateway's 404), has an ANY method
    assert set(answers) == set(declared)
    for path, (_, props) in answers.items():
        allowed = sorted(declared[path])
        # a mock (no function runs, no authorizer) whose one answer is 405 with Allow and the local server's envelope
        assert props["AuthorizationType"] == "NONE"
        integration = props["Integration"]
        assert integration["Type"] == "MOCK"
        (response,) = integration["IntegrationResponses"]
        assert response["StatusCode"] == "405" and "SelectionPattern" not in response
        assert response["ResponseParameters"]["method.response.header.Allow"] == f"'{', '.join(allowed)}'"
        template = response["ResponseTemplates"]["application/json"]
        assert template == method_not_allowed_template(allowed)
        assert json.loads(template)["error_details"][0]["code"] == "method_not_allowed"
        assert [r["StatusCode"] for r in props["MethodResponses"]] == ["405"]


def test_each_route_invokes_its_own_actions_function(synth: Synth) -> None:
    functions = {logical_id: props["Handler"] for logical_id, props in _functions(synth)}
    routes = methods(synth)
    for action in registry.actions():
        for path in action.all_paths:
            integration = routes[(action.method, action.gateway_path(path))]["Integration"]
            assert integration["Type"] == "AWS_PROXY"
            assert integration["IntegrationHttpMethod"] == "POST"
            assert functions[getatt_target(integration["Uri"])] == action.entry_point
        if action.v1 is not None:  # a v1 route runs its v2 action's own function: no function of its own
            integration = routes[(action.v1.method, action.v1.gateway_path())]["Integration"]
            assert functions[getatt_target(integration["Uri"])] == action.entry_point


def test_every_route_but_the_public_ones_goes_through_the_authorizer_for_its_header(synth: Synth) -> None:
    authorizers = synth.resources("AWS::ApiGateway::Authorizer")
    header_of = {lid: a["Properties"]["IdentitySource"] for lid, a in authorizers.items()}
    routes = methods(synth)
    seen_auth = set()
    for action in registry.actions():
        v1 = (
            [(action.v1.method, action.v1.gateway_path(p)) for p in action.v1.all_paths]
            if action.v1 is not None
            else []
        )
        for route in [(action.method, action.gateway_path(path)) for path in action.all_paths] + v1:
            method = routes[route]
            if action.auth is Auth.PUBLIC:
                assert method["AuthorizationType"] == "NONE", action.name
                assert "AuthorizerId" not in method, action.name
            else:
                assert method["AuthorizationType"] == "CUSTOM", action.name
                assert header_of[method["AuthorizerId"]["Ref"]] == f"method.request.header.{action.auth.value}"
                seen_auth.add(action.auth)
    # The MCP transport authenticates with `Authorization: Bearer`, everything else with X-Auth-Token.
    assert registry.by_name("mcp").auth is Auth.BEARER
    assert seen_auth == {Auth.API_KEY, Auth.BEARER}
    assert any(a.auth is Auth.PUBLIC for a in registry.actions())


def test_authorizers_share_one_function_and_cache_for_the_spec_ttl(synth: Synth) -> None:
    authorizers = [a["Properties"] for a in synth.resources("AWS::ApiGateway::Authorizer").values()]
    assert sorted(a["IdentitySource"] for a in authorizers) == [
        "method.request.header.Authorization",
        "method.request.header.X-Auth-Token",
    ]
    functions = dict(_functions(synth))
    targets = {getatt_target(a["AuthorizerUri"]) for a in authorizers}
    assert len(targets) == 1
    assert functions[targets.pop()]["Handler"] == "auth.authorizer.handler"
    for authorizer in authorizers:
        assert authorizer["Type"] == "REQUEST"
        assert authorizer["AuthorizerResultTtlInSeconds"] == infra_spec.AUTHORIZER_CACHE_SECONDS


def _gateway_responses(synth: Synth) -> dict[str, dict]:
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }


@pytest.mark.parametrize("response_type", ["UNAUTHORIZED", "ACCESS_DENIED"])
def test_authorization_failures_are_a_401_with_the_one_message(synth: Synth, response_type: str) -> None:
    response = _gateway_responses(synth)[response_type]
    assert response["StatusCode"] == "401"
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert body["errors"] == [infra_spec.UNAUTHORIZED_MESSAGE]
    assert body["error_details"] == [
        {"code": "unauthorized", "field": None, "message": infra_spec.UNAUTHORIZED_MESSAGE}
    ]
    assert body["request_id"] == "$context.requestId"


def test_an_unknown_route_or_method_is_a_404_worded_like_the_lambda_side(synth: Synth) -> None:
    # API Gateway answers MISSING_AUTHENTICATION_TOKEN for a route or method it does not have.
    response = _gateway_responses(synth)["MISSING_AUTHENTICATION_TOKEN"]
    assert response["StatusCode"] == "404"
    body = json.loads(response["ResponseTemplates"]["application/json"])
    # Same wording as the functions' own 404 (`not_found_message`), with API Gateway's request method and path.
    message = not_found_message("$context.httpMethod", "$context.path", nearest=False)
    assert body["errors"] == [message]
    assert body["error_details"] == [{"code": "not_found", "field": None, "message": message}]
    assert body["request_id"] == "$context.requestId"


def test_a_body_over_api_gateways_limit_is_a_413_in_the_envelope(synth: Synth) -> None:
    response = _gateway_responses(synth)["REQUEST_TOO_LARGE"]
    assert response["StatusCode"] == "413"
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert [d["code"] for d in body["error_details"]] == ["payload_too_large"]
    assert body["errors"] == [infra_spec.GATEWAY_TOO_LARGE_MESSAGE] and body["request_id"] == "$context.requestId"


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_every_other_gateway_error_is_in_the_envelope(synth: Synth, response_type: str) -> None:
    response = _gateway_responses(synth)[response_type]
    assert "StatusCode" not in response  # keeps API Gateway's status (429, 413, 504, ...)
    template = response["ResponseTemplates"]["application/json"]
    # API Gateway renders $context.error.messageString as a quoted JSON string.
    rendered = json.loads(template.replace("$context.error.messageString", json.dumps("Limit Exceeded")))
    assert rendered["errors"] == ["Limit Exceeded"]
    [detail] = rendered["error_details"]
    assert detail["message"] == "Limit Exceeded" and detail["field"] is None and detail["code"]
    assert rendered["request_id"] == "$context.requestId"


def test_every_gateway_response_carries_the_security_headers(synth: Synth) -> None:
    # API Gateway's own answers (401, 403, 404, 429, 5xx) are JSON, like the functions' errors: never sniffed, never
    # cached. Header values in a gateway response are quoted literals.
    responses = _gateway_responses(synth)
    assert set(responses) == {
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "MISSING_AUTHENTICATION_TOKEN",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "REQUEST_TOO_LARGE",
    }
    for response_type, response in responses.items():
        headers = response.get("ResponseParameters", {})
        assert headers.get("gatewayresponse.header.X-Content-Type-Options") == "'nosniff'", response_type
        assert headers.get("gatewayresponse.header.Cache-Control") == "'no-store'", response_type


def test_stage_logs_traces_and_throttles(synth: Synth) -> None:
    (stage,) = [s["Properties"] for s in synth.resources("AWS::ApiGateway::Stage").values()]
    assert stage["TracingEnabled"] is True
    access_log = json.loads(stage["AccessLogSetting"]["Format"])
    assert access_log["requestId"] == "$context.requestId"
    assert access_log["status"] == "$context.status"
    assert ":log-group:" in json.dumps(stage["AccessLogSetting"]["DestinationArn"])
    (settings,) = stage["MethodSettings"]
    assert settings["HttpMethod"] == "*" and settings["ResourcePath"] == "/*"
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] >= settings["ThrottlingRateLimit"]
    # The outer guard for every shop together: room for many shops at their own limit (6 requests/s each), well
    # under the account's regional API Gateway quota (10,000 requests/s) that every API of the account shares.
    assert 500 <= settings["ThrottlingRateLimit"] <= 2_500


def test_lambda_permissions_are_scoped_to_the_api(synth: Synth) -> None:
    every = [p["Properties"] for p in synth.resources("AWS::Lambda::Permission").values()]
    # EventBridge's permissions to run the scheduled functions are tested in test_schedules.py
    permissions = [p for p in every if p["Principal"] != "events.amazonaws.com"]
    # one per action function (for this API, any route: the function serves only its own), one per authorizer
    assert len(permissions) == len(registry.actions()) + 2
    for permission in permissions:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert "execute-api" in json.dumps(permission["SourceArn"])


def _functions(synth: Synth) -> list[tuple[str, dict]]:
    return [(lid, r["Properties"]) for lid, r in synth.resources("AWS::Lambda::Function").items()]


def test_each_authorizers_identity_is_a_function_of_its_identity_source_alone(synth: Synth) -> None:
    """API Gateway caches an authorizer's answer keyed on its identity sources: two requests that agree on those
    headers must get the same identity (or a refusal), whatever else they send. The real rule (`identify`) is run
    for every authorizer of the template with requests that differ only in the headers outside its sources."""
    from backinstock.services.shops import hash_key, identify

    class Keys:
        shops = {hash_key(k): (f"shop-{k}", "free") for k in ("key-one", "key-two")}

        def identity_for_key(self, key_hash: str) -> tuple[str, str | None] | None:
            return self.shops.get(key_hash)

    header_values = {
        "X-Auth-Token": [None, "key-one", "key-two"],
        "Authorization": [None, "Bearer key-one", "Bearer key-two", "Basic key-one"],
    }
    authorizers = synth.resources("AWS::ApiGateway::Authorizer").values()
    for authorizer in authorizers:
        sources = [
            s.removeprefix("method.request.header.") for s in authorizer["Properties"]["IdentitySource"].split(",")
        ]
        others = [h for h in header_values if h not in sources]
        for cache_key in _combinations({h: header_values[h] for h in sources}):
            if None in cache_key.values():
                continue  # API Gateway refuses a request without its identity sources before any cache
            seen = {
                identify(Keys(), {k: v for k, v in {**cache_key, **rest}.items() if v is not None})
                for rest in _combinations({h: header_values[h] for h in others})
            }
            assert len(seen - {None}) <= 1, (sources, cache_key, seen)


def _combinations(values: dict[str, list[str | None]]) -> list[dict[str, str | None]]:
    import itertools

    return [dict(zip(values, chosen, strict=True)) for chosen in itertools.product(*values.values())]


def test_large_answers_are_gzipped_for_clients_that_ask(synth: Synth) -> None:
    """The public openapi.json (~560 KB) and long pages: API Gateway compresses answers above 10 KB."""
    [api] = synth.resources("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["MinimumCompressionSize"] == 10 * 1024
