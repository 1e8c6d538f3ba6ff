"""What one ``muzo serve`` process accepts, and the one error type its handlers raise.

Every bound is a ``muzo serve`` flag with the default below, chosen so that a server reachable by
strangers cannot be made to read, decode or hold more than a few hundred MB per request, nor queue
work without end: the upload is counted as it arrives, the decoded length is read from the file's
header before any decoding, and predictions run a few at a time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    """The bounds of one server (all checked per request).

    Attributes:
        max_upload_bytes: largest request body, bytes (a 10-minute 44.1 kHz stereo 16-bit WAV is 106 MB;
            compressed formats are a tenth of that). Content-Length is checked first, then the bytes as they come.
        max_audio_seconds: longest recording, s, by its header, read before decoding (a FLAC of
            digital silence declaring hours is a few kB: refused without decoding a sample).
        request_timeout_s: longest time to receive one upload, s (a slow client gets 408).
        max_concurrent: predictions running at once (each uses every core through its threads).
        queue_wait_s: longest a request waits for a free prediction slot, s, before 503.
    """
    max_upload_bytes: int = 64 * 1024 * 1024
    max_audio_seconds: float = 600.0
    request_timeout_s: float = 30.0
    max_concurrent: int = 2
    queue_wait_s: float = 10.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")

    def to_dict(self) -> dict:
        return asdict(self)


class ServiceError(Exception):
    """A request the service refuses: an HTTP status and a one-line message (sent as JSON ``{"error": ...}``)."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers
