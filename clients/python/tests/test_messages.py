import hashlib
import unittest

from mailgrpc.v1 import message_service_pb2 as pb
from mailgrpc_client import MessageIntegrityError, read_messages

CHUNK = 64 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mime(subject: str, lines: int) -> bytes:
    return (f"Subject: {subject}\r\n\r\n" + "".join(f"line {i} of {subject}\r\n" for i in range(lines))).encode()


def frames(uid: str, content: bytes, digest: str | None = None) -> list[pb.MessageFrame]:
    out = [pb.MessageFrame(summary=pb.MessageSummary(uid=uid, size=len(content)))]
    for offset in range(0, len(content), CHUNK):
        out.append(pb.MessageFrame(chunk=pb.MessageChunk(offset=offset, data=content[offset:offset + CHUNK])))
    out.append(pb.MessageFrame(end=pb.MessageEnd(uid=uid, size=len(content), sha256=digest or sha(content))))
    return out


class ReadMessagesTest(unittest.TestCase):
    def test_reassembles_messages_across_chunks_and_verifies_their_sha256(self):
        a, b = mime("first", 10_000), mime("second", 2)
        self.assertGreater(len(a), 2 * CHUNK)
        messages = list(read_messages(frames("u1", a) + frames("u2", b)))
        self.assertEqual([(m.uid, m.content, m.sha256) for m in messages], [("u1", a, sha(a)), ("u2", b, sha(b))])

    def test_a_sha256_mismatch_raises_before_the_message_is_yielded(self):
        good = mime("good", 3)
        yielded = []
        with self.assertRaisesRegex(MessageIntegrityError, "SHA-256 mismatch") as caught:
            for m in read_messages(frames("u1", good) + frames("u2", mime("bad", 3), sha(good))):
                yielded.append(m.uid)
        self.assertEqual(yielded, ["u1"])
        self.assertEqual(caught.exception.uid, "u2")

    def test_a_skipped_message_is_yielded_with_its_reason_and_no_content(self):
        after = mime("after", 2)
        skipped = [pb.MessageFrame(summary=pb.MessageSummary(uid="big", size=99_000_000)),
                   pb.MessageFrame(skipped=pb.MessageSkipped(uid="big", reason="MESSAGE_TOO_LARGE"))]
        messages = list(read_messages(skipped + frames("u2", after)))
        self.assertEqual([(m.uid, m.skip_reason, m.content) for m in messages],
                         [("big", "MESSAGE_TOO_LARGE", b""), ("u2", None, after)])

    def test_an_offset_gap_and_a_cut_stream_are_refused(self):
        all_frames = frames("u1", mime("gap", 10_000))
        with self.assertRaisesRegex(MessageIntegrityError, "expected 65536"):
            list(read_messages(all_frames[:2] + all_frames[3:]))
        with self.assertRaisesRegex(MessageIntegrityError, "ended in the middle"):
            list(read_messages(all_frames[:-1]))


if __name__ == "__main__":
    unittest.main()
