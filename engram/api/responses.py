"""What every JSON response shares: how it is written, and the original Engram's confidence object."""

from __future__ import annotations

import falcon
import msgspec

_JSON = msgspec.json.Encoder()

HIGH_CONFIDENCE_ABOVE = 0.7
MEDIUM_CONFIDENCE_ABOVE = 0.4


class ConfidenceView(msgspec.Struct):
    """``{"value", "category", "reasoning"}`` as the original Engram reports confidences."""

    value: float
    category: str
    reasoning: str


def confidence_view(value: float, reasoning: str) -> ConfidenceView:
    """Categorise a confidence as the original does: High above 0.7, Medium above 0.4, else Low."""
    if value > HIGH_CONFIDENCE_ABOVE:
        category = "High"
    elif value > MEDIUM_CONFIDENCE_ABOVE:
        category = "Medium"
    else:
        category = "Low"
    return ConfidenceView(value, category, reasoning)


def send_json(resp: falcon.Response, body: msgspec.Struct, status: int = 200) -> None:
    """Write ``body`` as the JSON response (Structs encode directly; no dict round trip)."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = _JSON.encode(body)
