"""Errors a Floe call raises: the gRPC code and Floe's own message."""

from __future__ import annotations

import json
import re


class FloeError(Exception):
    """A call Floe refused or failed. `code` is the gRPC status name
    (`InvalidArgument`, `NotFound`, `PermissionDenied`, `Unauthenticated`, …)
    and `message` what Floe said, for a person."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_ADBC_CODES = {
    "INVALID_ARGUMENT": "InvalidArgument", "NOT_FOUND": "NotFound", "UNAUTHENTICATED": "Unauthenticated",
    "UNAUTHORIZED": "PermissionDenied", "ALREADY_EXISTS": "AlreadyExists", "NOT_IMPLEMENTED": "Unimplemented",
    "TIMEOUT": "DeadlineExceeded", "IO": "Unavailable", "CANCELLED": "Cancelled", "INTERNAL": "Internal",
}


def from_exception(error: BaseException) -> FloeError:
    """The FloeError an ADBC or pyarrow.flight exception stands for."""
    if isinstance(error, FloeError):
        return error
    text = str(error)
    # floe.run failures carry {"error": code, "details": message}.
    if "{" in text and '"details"' in text:
        try:
            body = json.loads(text[text.index("{"):text.rindex("}") + 1])
            return FloeError(body.get("error", "Unknown"), body.get("details", text))
        except ValueError:
            pass
    match = re.search(r"\[FlightSQL\] (.*?) \((\w+); ", text)
    if match:
        return FloeError(match.group(2).title().replace("_", "") if match.group(2) not in _GRPC else _GRPC[match.group(2)],
                         match.group(1))
    status = getattr(error, "status_code", None)
    code = _ADBC_CODES.get(getattr(status, "name", ""), type(error).__name__)
    return FloeError(code, text)


_GRPC = {
    "InvalidArgument": "InvalidArgument", "NotFound": "NotFound", "PermissionDenied": "PermissionDenied",
    "Unauthenticated": "Unauthenticated", "Unimplemented": "Unimplemented", "AlreadyExists": "AlreadyExists",
    "Aborted": "Aborted", "ResourceExhausted": "ResourceExhausted", "DeadlineExceeded": "DeadlineExceeded",
    "Unavailable": "Unavailable", "Internal": "Internal", "FailedPrecondition": "FailedPrecondition",
    "Cancelled": "Cancelled",
}
