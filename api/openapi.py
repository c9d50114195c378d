"""The published OpenAPI document, made to tell the truth: every error a route can answer, and request schemas
that accept exactly what the API accepts (schemathesis checks both, tests/api/test_openapi_fuzz.py).

Two things FastAPI cannot derive from the code are added here: the errors that dependencies answer (401 from a
missing key, 503 from a database that does not answer ...), and the job request, whose pydantic model is loose on
purpose (the presets layer refuses with better messages) but whose published schema is one variant per preset,
per workflow template and for a graph, with each one's parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from api.responses import ERROR_RESPONSES, ErrorBody
from comfy_platform.comfyui.graph import NODE_ID_PATTERN
from comfy_platform.settings import Settings
from comfy_platform.storable import MAX_NUMBER, NUL_FREE_PATTERN
from presets import get_template, list_presets, list_templates
from presets.resolve import IMAGE_NAME_PATTERN

REF = "#/components/schemas/"
JSON_VALUE = {"$ref": REF + "JsonValue"}
NUL_FREE = {"type": "string", "pattern": NUL_FREE_PATTERN}
NULL = {"type": "null"}
IMAGE = {"$ref": REF + "ImageInput"}
NO_ENTRIES = {"type": "object", "maxProperties": 0}
# The API's storable-values rule in JSON Schema: finite numbers that fit a double, strings without NUL.
JSON_VALUE_SCHEMA = {
    "description": "any JSON value whose numbers fit a 64-bit float and whose strings hold no NUL character",
    "anyOf": [NULL, {"type": "boolean"}, {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER}, NUL_FREE,
              {"type": "array", "items": JSON_VALUE},
              {"type": "object", "additionalProperties": JSON_VALUE, "propertyNames": NUL_FREE}]}
IMAGE_INPUT_SCHEMA = {
    "title": "ImageInput", "type": "object", "additionalProperties": False,
    "description": "One input image, given exactly one way: inline base64 (decoded at most MAX_INPUT_BYTES, 413 "
                   "beyond), a URL the API fetches, or an earlier upload. Its bytes must decode as an image (400).",
    "properties": {name: {"anyOf": [NUL_FREE, NULL]} for name in ("base64", "url", "upload_id")},
    "oneOf": [{"required": [name], "properties": {name: {"type": "string"}}}
              for name in ("base64", "url", "upload_id")]}
GRAPH_SCHEMA = {
    "description": "a ComfyUI API-format graph ('Export (API)'): node id -> node. At most 64 levels deep. Whether "
                   "its nodes, values and links can run is judged against a ComfyUI's /object_info (400).",
    "type": "object", "minProperties": 1, "propertyNames": {"pattern": NODE_ID_PATTERN},
    "additionalProperties": {
        "type": "object", "required": ["class_type"], "propertyNames": NUL_FREE,
        "properties": {"class_type": NUL_FREE,
                       "inputs": {"type": "object", "additionalProperties": JSON_VALUE, "propertyNames": NUL_FREE}},
        "additionalProperties": JSON_VALUE}}
METADATA_SCHEMA = {"description": "your own small object, returned with the job: at most 8 KiB as JSON and 64 "
                                  "levels deep", "type": "object", "additionalProperties": JSON_VALUE,
                   "propertyNames": NUL_FREE}
WEBHOOK_URL_SCHEMA = {"description": "POSTed the job object when it ends (http or https)", "anyOf": [
    {"type": "string", "maxLength": 2048, "pattern": "^https?://[^\\s/\\u0000][^\\u0000]*$"}, NULL]}


def _document_errors(app: FastAPI, document: dict[str, Any]) -> None:
    """Add to each operation the errors its dependencies declare (api.errors.answers), the 413 and 422 that any
    body or parameter can bring and the 500 any route can; a route's own `responses=` name the rest."""
    schemas = document["components"]["schemas"]
    error_body = ErrorBody.model_json_schema(ref_template=REF + "{model}")
    schemas.update({**error_body.pop("$defs", {}), "ErrorBody": error_body})
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        statuses = {500}
        for dependant in _dependants(route.dependant):
            statuses |= getattr(dependant.call, "error_statuses", set())
        if route.body_field is not None:
            statuses |= {400, 413, 422}  # 400: a body FastAPI cannot read at all
        elif get_flat_params(route.dependant):
            statuses.add(422)
        for method in route.methods:
            responses = document["paths"][route.path_format][method.lower()]["responses"]
            for status in sorted(statuses):
                if str(status) not in responses or status == 422:  # FastAPI's own 422 has another shape
                    responses[str(status)] = _error_response(status)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _error_response(status: int) -> dict[str, Any]:
    documented = ERROR_RESPONSES[status]
    response = {"description": documented["description"],
                "content": {"application/json": {"schema": {"$ref": REF + "ErrorBody"}}}}
    if "headers" in documented:
        response["headers"] = documented["headers"]
    return response


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Replace FastAPI's document builder with one that publishes the job request as it is accepted."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            schemas = document["components"]["schemas"]
            _document_errors(app, document)
            schemas["JsonValue"] = JSON_VALUE_SCHEMA
            schemas["ImageInput"] = IMAGE_INPUT_SCHEMA
            for name in ("JobCreate", "GenerateCreate"):
                pydantic_schema = schemas[name]
                extra = {key: value for key, value in pydantic_schema["properties"].items() if key == "timeout"}
                schemas[name] = {"title": name, "description": pydantic_schema.get("description"),
                                 "examples": pydantic_schema.get("examples"),
                                 "oneOf": job_request_variants(settings.MAX_IMAGES_PER_JOB, extra)}
            _forbid_nul_in_requests(document)
            app.openapi_schema = copy.deepcopy(document)  # shares no dict with this module's constants
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def job_request_variants(max_images: int, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """One variant per preset, one per workflow template and one for a graph: what prepare_job accepts."""
    common = {"webhook_url": WEBHOOK_URL_SCHEMA, "metadata": METADATA_SCHEMA, **extra}
    variants = []
    for preset in list_presets():
        template = get_template(preset.template)
        photo = preset.photo_input
        params = {name: template.params[name].json_schema() for name in preset.overridable}
        variants.append(_variant(f"preset {preset.name}", "preset", {"const": preset.name}, common,
                                 image=IMAGE if photo else NULL, images=NO_ENTRIES, params=params,
                                 required=("image",) if photo else ()))
    for template in list_templates():
        images: dict[str, Any] = NO_ENTRIES
        if template.images:
            images = {"type": "object", "additionalProperties": False, "required": sorted(template.images),
                      "properties": {name: IMAGE for name in template.images}}
        params = {name: param.json_schema() for name, param in template.params.items()}
        variants.append(_variant(f"workflow {template.name}", "workflow", {"const": template.name}, common,
                                 image=NULL, images=images, params=params,
                                 required=("images",) if template.images else ()))
    graph_images = {"type": "object", "maxProperties": max_images, "additionalProperties": IMAGE,
                    "propertyNames": {"pattern": IMAGE_NAME_PATTERN},
                    "description": "file name a LoadImage node of the graph reads -> input; exactly those"}
    variants.append(_variant("graph", "graph", GRAPH_SCHEMA, common, image=NULL, images=graph_images, params=None))
    return variants


def _variant(title: str, form: str, form_schema: dict[str, Any], common: dict[str, Any], *, image: dict[str, Any],
             images: dict[str, Any], params: dict[str, Any] | None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    others = {name: NULL for name in ("preset", "workflow", "graph") if name != form}
    params_schema = NO_ENTRIES if params is None else {"type": "object", "additionalProperties": False,
                                                       "properties": params}
    return {"title": title, "type": "object", "additionalProperties": False, "required": [form, *required],
            "properties": {form: form_schema, **others, "image": image, "images": images, "params": params_schema,
                           **common}}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    stack = [dependant]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.dependencies)


def _forbid_nul_in_requests(document: dict[str, Any]) -> None:
    """Every string a request brings holds no NUL (comfy_platform.storable): say so on each free-form string of
    the parameters and of the request bodies' schemas (the job request's variants say it already)."""
    schemas = document["components"]["schemas"]
    request_refs: set[str] = set()
    for operation in (op for path in document["paths"].values() for op in path.values()):
        for parameter in operation.get("parameters", []):
            _add_pattern(parameter["schema"])
        for content in operation.get("requestBody", {}).get("content", {}).values():
            ref = content.get("schema", {}).get("$ref", "")
            request_refs.add(ref.removeprefix(REF))
    for name in request_refs - {"JobCreate", "GenerateCreate", ""}:
        _add_pattern(schemas[name])


def _add_pattern(schema: Any) -> None:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(node):
                node["pattern"] = NUL_FREE_PATTERN
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
