"""Reassembles message frames (summary -> chunks -> end, or summary -> skipped) into whole, verified messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from mailgrpc.v1 import message_service_pb2 as pb


class MessageIntegrityError(Exception):
    """The frames broke their order, or a message's bytes do not match its SHA-256. The message was not yielded."""

    def __init__(self, message: str, uid: Optional[str] = None) -> None:
        super().__init__(message)
        self.uid = uid


@dataclass(frozen=True)
class ReceivedMessage:
    """One whole message, verified; or a message the server skipped (``skip_reason`` set, empty content)."""

    uid: str
    summary: pb.MessageSummary
    content: bytes
    sha256: str
    skip_reason: Optional[str] = None


def read_messages(frames: Iterable[Optional[pb.MessageFrame]]) -> Iterator[ReceivedMessage]:
    """Yields whole messages from frames, holding one message at a time.

    Raises MessageIntegrityError before yielding a message whose framing or SHA-256 is wrong, or when the frames
    stop in the middle of a message.
    """
    current: Optional[pb.MessageSummary] = None
    buffer = bytearray()
    digest = hashlib.sha256()
    for frame in frames:
        kind = frame.WhichOneof("frame") if frame is not None else None
        if kind == "summary":
            if current is not None:
                raise MessageIntegrityError(
                    f"message '{current.uid}' ended without an end frame before '{frame.summary.uid}' started", current.uid)
            current = frame.summary
            buffer = bytearray()
            digest = hashlib.sha256()
        elif kind == "chunk":
            if current is None:
                raise MessageIntegrityError("a chunk frame arrived before any summary frame")
            if frame.chunk.offset != len(buffer):
                raise MessageIntegrityError(
                    f"chunk of message '{current.uid}' starts at offset {frame.chunk.offset}, expected {len(buffer)}", current.uid)
            buffer += frame.chunk.data
            digest.update(frame.chunk.data)
        elif kind == "end":
            if current is None:
                raise MessageIntegrityError("an end frame arrived before any summary frame")
            summary, current = current, None
            end = frame.end
            if end.uid and end.uid != summary.uid:
                raise MessageIntegrityError(f"end frame for '{end.uid}' closes message '{summary.uid}'", summary.uid)
            if end.size != len(buffer):
                raise MessageIntegrityError(
                    f"message '{summary.uid}': the end frame says {end.size} bytes, {len(buffer)} arrived", summary.uid)
            actual = digest.hexdigest()
            # The headers-only view sends no chunks and may hash nothing; anything with bytes must carry a hash.
            if not (len(buffer) == 0 and end.sha256 == "") and actual != end.sha256.lower():
                raise MessageIntegrityError(
                    f"message '{summary.uid}': SHA-256 mismatch (server {end.sha256}, received {actual})", summary.uid)
            content, buffer = bytes(buffer), bytearray()
            yield ReceivedMessage(uid=summary.uid, summary=summary, content=content, sha256=actual)
        elif kind == "skipped":
            if current is None:
                raise MessageIntegrityError("a skipped frame arrived before any summary frame")
            if buffer:
                raise MessageIntegrityError(f"message '{current.uid}' was skipped after {len(buffer)} bytes were sent", current.uid)
            summary, current = current, None
            yield ReceivedMessage(uid=summary.uid, summary=summary, content=b"", sha256="",
                                  skip_reason=frame.skipped.reason or "UNSPECIFIED")
        else:
            raise MessageIntegrityError("unknown or empty frame", current.uid if current else None)
    if current is not None:
        raise MessageIntegrityError(f"the stream ended in the middle of message '{current.uid}'", current.uid)
