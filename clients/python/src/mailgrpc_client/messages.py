"""Reassembles message frames (summary -> chunks -> end, or summary -> skipped) into whole, verified messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import AsyncIterable, AsyncIterator, Iterable, Iterator, Optional

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


class _Assembler:
    """The frame state machine shared by the sync and async readers: ``accept`` returns a finished message or None."""

    def __init__(self) -> None:
        self.current: Optional[pb.MessageSummary] = None
        self.buffer = bytearray()
        self.digest = hashlib.sha256()

    def accept(self, frame: Optional[pb.MessageFrame]) -> Optional[ReceivedMessage]:
        current = self.current
        kind = frame.WhichOneof("frame") if frame is not None else None
        if kind == "summary":
            if current is not None:
                raise MessageIntegrityError(
                    f"message '{current.uid}' ended without an end frame before '{frame.summary.uid}' started", current.uid)
            self.current = frame.summary
            self.buffer = bytearray()
            self.digest = hashlib.sha256()
            return None
        if kind == "chunk":
            if current is None:
                raise MessageIntegrityError("a chunk frame arrived before any summary frame")
            if frame.chunk.offset != len(self.buffer):
                raise MessageIntegrityError(
                    f"chunk of message '{current.uid}' starts at offset {frame.chunk.offset}, expected {len(self.buffer)}", current.uid)
            self.buffer += frame.chunk.data
            self.digest.update(frame.chunk.data)
            return None
        if kind == "end":
            if current is None:
                raise MessageIntegrityError("an end frame arrived before any summary frame")
            summary, self.current = current, None
            end = frame.end
            if end.uid and end.uid != summary.uid:
                raise MessageIntegrityError(f"end frame for '{end.uid}' closes message '{summary.uid}'", summary.uid)
            if end.size != len(self.buffer):
                raise MessageIntegrityError(
                    f"message '{summary.uid}': the end frame says {end.size} bytes, {len(self.buffer)} arrived", summary.uid)
            actual = self.digest.hexdigest()
            # The headers-only view sends no chunks and may hash nothing; anything with bytes must carry a hash.
            if not (len(self.buffer) == 0 and end.sha256 == "") and actual != end.sha256.lower():
                raise MessageIntegrityError(
                    f"message '{summary.uid}': SHA-256 mismatch (server {end.sha256}, received {actual})", summary.uid)
            content, self.buffer = bytes(self.buffer), bytearray()
            return ReceivedMessage(uid=summary.uid, summary=summary, content=content, sha256=actual)
        if kind == "skipped":
            if current is None:
                raise MessageIntegrityError("a skipped frame arrived before any summary frame")
            if self.buffer:
                raise MessageIntegrityError(f"message '{current.uid}' was skipped after {len(self.buffer)} bytes were sent", current.uid)
            summary, self.current = current, None
            return ReceivedMessage(uid=summary.uid, summary=summary, content=b"", sha256="",
                                   skip_reason=frame.skipped.reason or "UNSPECIFIED")
        raise MessageIntegrityError("unknown or empty frame", current.uid if current else None)

    def finish(self) -> None:
        if self.current is not None:
            raise MessageIntegrityError(f"the stream ended in the middle of message '{self.current.uid}'", self.current.uid)


def read_messages(frames: Iterable[Optional[pb.MessageFrame]]) -> Iterator[ReceivedMessage]:
    """Yields whole messages from frames, holding one message at a time.

    Raises MessageIntegrityError before yielding a message whose framing or SHA-256 is wrong, or when the frames
    stop in the middle of a message.
    """
    assembler = _Assembler()
    for frame in frames:
        message = assembler.accept(frame)
        if message is not None:
            yield message
    assembler.finish()


async def read_messages_async(frames: AsyncIterable[Optional[pb.MessageFrame]]) -> AsyncIterator[ReceivedMessage]:
    """``read_messages`` for an async stream of frames (the ``grpc.aio`` client)."""
    assembler = _Assembler()
    async for frame in frames:
        message = assembler.accept(frame)
        if message is not None:
            yield message
    assembler.finish()
