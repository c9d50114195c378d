"""`storage`: each behaviour test runs once on local disk and once on the real S3 server."""

import pytest

from comfy_platform.storage import Storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    return request.getfixturevalue(f"{request.param}_storage")
