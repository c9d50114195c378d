"""A Replayer with the platform's data converter: fresh runs' payloads are encrypted with the session's key, and
histories recorded before payloads were encrypted pass through it as they are."""

from __future__ import annotations

from temporalio.worker import Replayer

from comfy_platform.payload_codec import data_converter
from comfy_platform.settings import Settings
from tests.fixtures.temporal import PAYLOAD_KEY


def replayer(workflows: list) -> Replayer:
    return Replayer(workflows=workflows, data_converter=data_converter(Settings(TEMPORAL_PAYLOAD_KEYS=PAYLOAD_KEY)))
