// Reassembles the frames of StreamMessages / GetMessage / WatchMessages (summary → chunks → end, or
// summary → skipped) into whole messages, checking offsets, sizes and the SHA-256 of each.
import { createHash, type Hash } from "node:crypto";
import type { MessageFrame, MessageSummary } from "./gen/mailgrpc/v1/message_service_pb.js";

/** One whole message, verified; or a message the server skipped (`skipReason` set, no content). */
export interface ReceivedMessage {
  /** The POP3 UIDL. */
  readonly uid: string;
  /** The summary frame: size and parsed envelope. */
  readonly summary: MessageSummary;
  /** The raw MIME bytes (empty when skipped). */
  readonly content: Buffer;
  /** Lower-case hex SHA-256 of `content`, as sent by the server and verified here; empty when skipped. */
  readonly sha256: string;
  /** Why the server did not send it (`MESSAGE_TOO_LARGE`, `MESSAGE_NOT_FOUND`), or undefined. */
  readonly skipReason?: string;
}

/** The frames broke their order, or a message's bytes do not match its SHA-256. The message was not yielded. */
export class MessageIntegrityError extends Error {
  constructor(
    message: string,
    readonly uid?: string,
  ) {
    super(message);
    this.name = "MessageIntegrityError";
  }
}

/**
 * Yields whole messages from frames. Holds one message at a time; throws `MessageIntegrityError` before yielding a
 * message whose framing or SHA-256 is wrong, or when the frames stop in the middle of a message.
 */
export async function* readMessages(frames: AsyncIterable<MessageFrame | undefined>): AsyncGenerator<ReceivedMessage> {
  let current: MessageSummary | undefined;
  let buffer = Buffer.alloc(0);
  let length = 0;
  let hash: Hash | undefined;

  for await (const frame of frames) {
    const f = frame?.frame;
    switch (f?.case) {
      case "summary":
        if (current) {
          throw new MessageIntegrityError(`message '${current.uid}' ended without an end frame before '${f.value.uid}' started`, current.uid);
        }
        current = f.value;
        // Sized once from the announced size; grows only if the server sends more.
        buffer = Buffer.allocUnsafe(Number(f.value.size));
        length = 0;
        hash = createHash("sha256");
        break;
      case "chunk": {
        if (!current || !hash) throw new MessageIntegrityError("a chunk frame arrived before any summary frame");
        if (Number(f.value.offset) !== length) {
          throw new MessageIntegrityError(`chunk of message '${current.uid}' starts at offset ${f.value.offset}, expected ${length}`, current.uid);
        }
        const data = f.value.data;
        if (length + data.length > buffer.length) {
          const grown = Buffer.allocUnsafe(Math.max(length + data.length, buffer.length * 2));
          buffer.copy(grown, 0, 0, length);
          buffer = grown;
        }
        buffer.set(data, length);
        hash.update(data);
        length += data.length;
        break;
      }
      case "end": {
        if (!current || !hash) throw new MessageIntegrityError("an end frame arrived before any summary frame");
        const summary = current;
        current = undefined;
        if (f.value.uid && f.value.uid !== summary.uid) {
          throw new MessageIntegrityError(`end frame for '${f.value.uid}' closes message '${summary.uid}'`, summary.uid);
        }
        if (Number(f.value.size) !== length) {
          throw new MessageIntegrityError(`message '${summary.uid}': the end frame says ${f.value.size} bytes, ${length} arrived`, summary.uid);
        }
        const actual = hash.digest("hex");
        // The headers-only view sends no chunks and may hash nothing; anything with bytes must carry a hash.
        if (!(length === 0 && f.value.sha256 === "") && actual !== f.value.sha256.toLowerCase()) {
          throw new MessageIntegrityError(`message '${summary.uid}': SHA-256 mismatch (server ${f.value.sha256}, received ${actual})`, summary.uid);
        }
        const content = buffer.subarray(0, length);
        buffer = Buffer.alloc(0);
        yield { uid: summary.uid, summary, content, sha256: actual };
        break;
      }
      case "skipped": {
        if (!current) throw new MessageIntegrityError("a skipped frame arrived before any summary frame");
        if (length !== 0) throw new MessageIntegrityError(`message '${current.uid}' was skipped after ${length} bytes were sent`, current.uid);
        const summary = current;
        current = undefined;
        yield { uid: summary.uid, summary, content: Buffer.alloc(0), sha256: "", skipReason: f.value.reason || "UNSPECIFIED" };
        break;
      }
      default:
        throw new MessageIntegrityError(`unknown or empty frame`, current?.uid);
    }
  }
  if (current) {
    throw new MessageIntegrityError(`the stream ended in the middle of message '${current.uid}'`, current.uid);
  }
}

/** Picks the frame out of each response of a message stream. */
export async function* framesOf(responses: AsyncIterable<{ frame?: MessageFrame }>): AsyncGenerator<MessageFrame | undefined> {
  for await (const response of responses) {
    yield response.frame;
  }
}
