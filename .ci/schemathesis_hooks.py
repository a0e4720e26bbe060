"""Schemathesis hooks for .ci/schemathesis: X12 uploads (application/edi-x12) are sent as text."""

import schemathesis


@schemathesis.serializer("application/edi-x12")
def edi_x12(ctx, value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
