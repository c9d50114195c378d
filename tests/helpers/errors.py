"""What an error body may never hold: the documented shape, in plain words, without Python's insides."""

from __future__ import annotations

import re
import tempfile

# A repr ("<_io.BytesIO object at 0x...>"), a traceback, a file of ours, a Python type or exception name ("list"
# and "bytes" are plain English too, so they may appear).
_LEAKS = re.compile(r"object at 0x|Traceback|File \"|\.py\b|\bNoneType\b|\b(dict|tuple|str|int|float|bool|bytearray)\b"
                    r"|\b[A-Z]\w*(Error|Exception)\b|\bBytesIO\b")


def assert_plain_error(body: dict, status: int) -> dict:
    """The documented {"error": {"code", "message", "details"}} with a message a person can read; returns the
    error."""
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"] and error["message"], body
    text = f"{error['message']} {error['details']}"
    assert not _LEAKS.search(text), f"{status}: {text}"
    assert tempfile.gettempdir() + "/" not in text, f"{status}: {text}"
    return error
