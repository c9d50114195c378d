"""The published schema agrees with the API: a job request the API refuses with 422 does not fit the schema, and
one it takes (or refuses with 400 after a closer look) does. The fuzz test checks the same with generated data;
these are the cases known to have gone wrong."""

from __future__ import annotations

import json

import jsonschema_rs
import pytest

from api.main import create_app
from comfy_platform.settings import Settings
from tests.api.test_bad_input import BAD_BODIES
from tests.api.test_unusable_values import REFUSED
from tests.helpers.images import empty_image_graph

DOCUMENT = create_app(Settings()).openapi()
# What no JSON Schema can state, so the schema lets it through and the API refuses it (limits the field
# descriptions name, and lone surrogates, which JSON generators do not produce).
NOT_IN_THE_SCHEMA = {"deeply nested params", "deeply nested graph", "a lone surrogate in a prompt"}
ACCEPTED = [
    {"preset": "quick_enhance", "image": {"upload_id": "u"}, "params": {"sharpen": 1.2}, "metadata": {"a": [1]}},
    {"preset": "portrait_pro", "image": {"url": "https://example.com/a.png"}, "images": {}, "workflow": None},
    {"workflow": "t2i_basic", "params": {"steps": 30.0, "seed": 18446744073709551615, "sampler": "ddim"}},
    {"workflow": "img2img_basic", "images": {"image": {"base64": "iVBORw0KGgo="}}, "webhook_url": "https://a.b/c"},
    {"graph": empty_image_graph(), "images": {}, "params": {}, "metadata": {}},
]


def validator(schema_name: str) -> jsonschema_rs.Draft202012Validator:
    # jsonschema_rs: the validator schemathesis itself uses.
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}",
                                               "components": DOCUMENT["components"]})


@pytest.mark.parametrize("case", [c for c in BAD_BODIES if c not in NOT_IN_THE_SCHEMA])
def test_the_schema_refuses_what_the_api_answers_422_and_takes_the_rest(case):
    body, status = BAD_BODIES[case][:2]
    for schema_name in ("JobCreate", "GenerateCreate"):
        assert validator(schema_name).is_valid(body) == (status != 422), (schema_name, body)


@pytest.mark.parametrize("case", [c for c in REFUSED if c not in NOT_IN_THE_SCHEMA])
def test_the_schema_refuses_the_values_no_database_keeps(case):
    body, status = REFUSED[case][:2]
    assert validator("JobCreate").is_valid(json.loads(body)) == (status != 422), body


@pytest.mark.parametrize("body", ACCEPTED)
def test_the_schema_takes_each_form_of_job_request_the_api_takes(body):
    assert validator("JobCreate").is_valid(body), list(validator("JobCreate").iter_errors(body))[:3]
    assert validator("GenerateCreate").is_valid({**body, "timeout": 30})
    assert not validator("JobCreate").is_valid({**body, "timeout": 30})  # /generate's field only


def test_every_operation_documents_its_errors_in_the_one_error_shape():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and not path.startswith("/api/health") and not path.startswith("/api/ready"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            assert "500" in operation["responses"], (method, path)
