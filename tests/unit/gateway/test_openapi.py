"""Merging the services' OpenAPI documents into the gateway's one description of the public API, and
serving it."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway.openapi import api_version
from gateway.settings import GatewaySettings
from gateway.spec import merge
from shared import internal
from tests.unit.gateway.in_process import running_gateway

PREFIXES = {"inventory": "/api/books", "sales": "/api/orders"}
ERROR_BODY = {
    "type": "object",
    "title": "ErrorBody",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
VALIDATION_422 = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
}
FASTAPI_VALIDATION_SCHEMAS = {
    "HTTPValidationError": {
        "type": "object",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
        },
    },
    "ValidationError": {"type": "object", "properties": {"msg": {"type": "string"}}},
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def inventory_doc() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Inventory service", "version": "0.1.0"},
        "paths": {
            "/api/books": {"get": {"operationId": "list_books", "responses": {"200": ok(ref("Line"))}}},
            "/api/books/{book_id}": {
                "get": {
                    "operationId": "get_book",
                    "parameters": [{"name": "book_id", "in": "path", "required": True}],
                    "responses": {"200": ok(ref("Book")), "422": VALIDATION_422},
                }
            },
            # Not under inventory's prefix: never published by the gateway.
            "/internal/holds": {"post": {"responses": {"201": ok(ref("Book"))}}},
            "/api/orders": {"get": {"responses": {"200": ok(ref("Book"))}}},
        },
        "components": {
            "schemas": {
                "Book": {"type": "object", "properties": {"id": {"type": "string"}, "line": ref("Line")}},
                "Line": {"type": "object", "properties": {"book_id": {"type": "string"}}},
                "ErrorBody": ERROR_BODY,
                **FASTAPI_VALIDATION_SCHEMAS,
            }
        },
    }


def sales_doc() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sales service", "version": "0.1.0"},
        "paths": {
            "/api/orders": {
                "post": {
                    "operationId": "place_order",
                    "requestBody": {"content": {"application/json": {"schema": ref("OrderIn")}}},
                    "responses": {
                        "201": ok(ref("Order")),
                        "422": VALIDATION_422,
                        "503": {"description": "Inventory is down", "content": {}},
                    },
                }
            },
            "/internal/orders/{order_id}": {"get": {"responses": {"200": ok(ref("Order"))}}},
        },
        "components": {
            "schemas": {
                "OrderIn": {
                    "type": "object",
                    "properties": {"lines": {"type": "array", "items": ref("Line")}},
                },
                "Order": {"type": "object", "properties": {"order_id": {"type": "string"}}},
                # Same name as inventory's Line, different shape: both must be kept, under new names.
                "Line": {"type": "object", "properties": {"quantity": {"type": "integer"}}},
                "ErrorBody": ERROR_BODY,
                **FASTAPI_VALIDATION_SCHEMAS,
            }
        },
    }


def merged() -> dict[str, Any]:
    return merge({"inventory": inventory_doc(), "sales": sales_doc()}, PREFIXES, "1.2.3")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_only_each_services_public_prefix_is_published() -> None:
    document = merged()

    assert set(document["paths"]) == {"/api/books", "/api/books/{book_id}", "/api/orders"}
    # /api/orders comes from sales, its owner, not from inventory's stray path.
    assert set(document["paths"]["/api/orders"]) == {"post"}
    assert document["paths"]["/api/orders"]["post"]["operationId"] == "place_order"


def test_the_document_is_openapi_3_1_titled_bookstore_api_and_explains_the_token() -> None:
    document = merged()

    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Bookstore API"
    assert document["info"]["version"] == "1.2.3"
    for mention in ("my_secure_token", "X-Request-ID", '"error"'):
        assert mention in document["info"]["description"]


def test_schemas_of_both_services_are_merged_and_identical_ones_are_kept_once() -> None:
    schemas = merged()["components"]["schemas"]

    assert {"Book", "OrderIn", "Order", "ErrorBody"} <= set(schemas)
    assert schemas["ErrorBody"] == ERROR_BODY


def test_schemas_that_differ_under_one_name_are_prefixed_with_their_service_and_refs_follow() -> None:
    document = merged()
    schemas = document["components"]["schemas"]

    assert "Line" not in schemas
    assert schemas["InventoryLine"]["properties"] == {"book_id": {"type": "string"}}
    assert schemas["SalesLine"]["properties"] == {"quantity": {"type": "integer"}}
    assert schemas["Book"]["properties"]["line"] == ref("InventoryLine")
    assert schemas["OrderIn"]["properties"]["lines"]["items"] == ref("SalesLine")
    listing = document["paths"]["/api/books"]["get"]["responses"]["200"]
    assert listing["content"]["application/json"]["schema"] == ref("InventoryLine")


def test_a_schema_that_refers_to_a_renamed_one_is_renamed_too_when_it_now_differs() -> None:
    inventory, sales = inventory_doc(), sales_doc()
    wrapper = {"type": "object", "properties": {"line": ref("Line")}}
    inventory["components"]["schemas"]["Wrapper"] = wrapper
    sales["components"]["schemas"]["Wrapper"] = json.loads(json.dumps(wrapper))

    schemas = merge({"inventory": inventory, "sales": sales}, PREFIXES)["components"]["schemas"]

    assert schemas["InventoryWrapper"]["properties"]["line"] == ref("InventoryLine")
    assert schemas["SalesWrapper"]["properties"]["line"] == ref("SalesLine")


def test_every_ref_in_the_merged_document_resolves() -> None:
    document = merged()
    text = json.dumps(document)

    for target in {part.split('"')[0] for part in text.split('"$ref": "#/')[1:]}:
        node: Any = document
        for key in target.split("/"):
            node = node[key]


def test_fastapi_422_answers_and_their_schemas_are_gone() -> None:
    document = merged()

    assert "HTTPValidationError" not in json.dumps(document)
    assert "ValidationError" not in document["components"]["schemas"]
    for _, _, operation in operations(document):
        assert "422" not in operation["responses"]


def test_operations_with_parameters_or_a_body_document_400_with_the_envelope() -> None:
    document = merged()

    for path, method in (("/api/books/{book_id}", "get"), ("/api/orders", "post")):
        bad = document["paths"][path][method]["responses"]["400"]
        assert bad["content"]["application/json"]["schema"] == ref("ErrorBody")
    # Nothing to be invalid about a plain listing.
    assert "400" not in document["paths"]["/api/books"]["get"]["responses"]


def test_bearer_auth_is_declared_and_required_everywhere() -> None:
    document = merged()

    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]


def test_every_operation_documents_what_the_gateway_itself_answers() -> None:
    document = merged()

    for _, _, operation in operations(document):
        responses = operation["responses"]
        for status in ("401", "429", "503", "504"):
            assert responses[status]["content"]["application/json"]["schema"] == ref("ErrorBody")
        assert "WWW-Authenticate" in responses["401"]["headers"]
        assert "Retry-After" in responses["429"]["headers"]
        assert "Retry-After" in responses["503"]["headers"]
        for response in responses.values():
            assert response["headers"]["X-Request-ID"] == {"$ref": "#/components/headers/X-Request-ID"}


def test_a_services_own_description_of_a_status_is_kept_and_completed() -> None:
    unavailable = merged()["paths"]["/api/orders"]["post"]["responses"]["503"]

    assert unavailable["description"] == "Inventory is down"
    assert "Retry-After" in unavailable["headers"]


def test_the_envelope_schema_is_present_even_when_no_service_defines_it() -> None:
    inventory = inventory_doc()
    del inventory["components"]["schemas"]["ErrorBody"]

    document = merge({"inventory": inventory}, PREFIXES)

    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["error"]


def test_merging_leaves_the_services_documents_as_they_were() -> None:
    inventory, sales = inventory_doc(), sales_doc()

    merge({"inventory": inventory, "sales": sales}, PREFIXES)

    assert inventory == inventory_doc()
    assert sales == sales_doc()


async def test_with_the_services_unreachable_the_description_is_503_naming_them_and_docs_still_load() -> None:
    async with running_gateway() as anonymous:
        description = await anonymous.get("/openapi.json")
        page = await anonymous.get("/docs")
        css = await anonymous.get("/docs/assets/swagger-ui.css")
        fastapi_default = await anonymous.get("/redoc")

    assert description.status_code == 503
    assert description.headers["retry-after"]
    for service in ("inventory", "sales", "delivery"):
        assert service in description.json()["error"]
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert fastapi_default.status_code == 404


async def test_each_service_is_asked_once_with_a_signed_call_and_the_merge_is_served() -> None:
    secret = "s" * 32
    asked: list[tuple[str, str, bool]] = []
    documents = {"inventory": inventory_doc(), "sales": sales_doc(), "delivery": {"paths": {}}}

    def serving(name: str) -> httpx.AsyncClient:
        def handler(request: httpx.Request) -> httpx.Response:
            signature = request.headers.get(internal.HEADER, "")
            signed = internal.verify(secret, signature, "GET", request.url.raw_path.decode()) is not None
            asked.append((name, request.url.raw_path.decode(), signed))
            return httpx.Response(200, json=documents[name])

        return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=f"http://{name}")

    services = {name: serving(name) for name in documents}
    async with running_gateway(GatewaySettings(INTERNAL_SECRET=secret), **services) as anonymous:
        first = await anonymous.get("/openapi.json")
        again = await anonymous.get("/openapi.json")

    prefixes = {**PREFIXES, "delivery": "/api/deliveries"}
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == json.loads(json.dumps(merge(documents, prefixes, api_version())))
    assert sorted(asked) == [(name, "/openapi.json", True) for name in ("delivery", "inventory", "sales")]
