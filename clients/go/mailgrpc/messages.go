// Package mailgrpc is a thin client for MailGrpc (mailgrpc.v1): the generated stubs on one connection with the API
// key on every call, and a reader that turns message frames into whole, SHA-256-verified messages.
package mailgrpc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	pb "github.com/mailgrpc/mailgrpc/clients/go/mailgrpcv1"
)

// ReceivedMessage is one whole message, verified; or a message the server skipped (SkipReason set, no content).
type ReceivedMessage struct {
	UID        string
	Summary    *pb.MessageSummary
	Content    []byte
	Sha256     string
	SkipReason string
}

// Skipped reports whether the server did not send the message.
func (m *ReceivedMessage) Skipped() bool { return m.SkipReason != "" }

// IntegrityError means the frames broke their order, or a message's bytes do not match its SHA-256. The message
// was not returned.
type IntegrityError struct {
	UID     string
	Message string
}

func (e *IntegrityError) Error() string { return e.Message }

func integrity(uid, format string, args ...interface{}) error {
	return &IntegrityError{UID: uid, Message: fmt.Sprintf(format, args...)}
}

// FrameSource returns the next frame, or io.EOF after the last one (a gRPC stream's Recv, adapted).
type FrameSource func() (*pb.MessageFrame, error)

// MessageReader reads whole messages from frames, holding one message at a time.
type MessageReader struct {
	next FrameSource
}

// NewMessageReader reads messages from a frame source.
func NewMessageReader(next FrameSource) *MessageReader { return &MessageReader{next: next} }

// Next returns the next whole message, io.EOF after the last, or an *IntegrityError when the framing or the
// SHA-256 is wrong or the frames stop in the middle of a message; other errors come from the source.
func (r *MessageReader) Next() (*ReceivedMessage, error) {
	var current *pb.MessageSummary
	var buffer []byte
	hash := sha256.New()
	for {
		frame, err := r.next()
		if err == io.EOF {
			if current != nil {
				return nil, integrity(current.Uid, "the stream ended in the middle of message '%s'", current.Uid)
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		switch f := frame.GetFrame().(type) {
		case *pb.MessageFrame_Summary:
			if current != nil {
				return nil, integrity(current.Uid, "message '%s' ended without an end frame before '%s' started", current.Uid, f.Summary.Uid)
			}
			current = f.Summary
			// Sized once from the announced size; append grows it only if the server sends more.
			buffer = make([]byte, 0, f.Summary.Size)
			hash.Reset()
		case *pb.MessageFrame_Chunk:
			if current == nil {
				return nil, integrity("", "a chunk frame arrived before any summary frame")
			}
			if f.Chunk.Offset != int64(len(buffer)) {
				return nil, integrity(current.Uid, "chunk of message '%s' starts at offset %d, expected %d", current.Uid, f.Chunk.Offset, len(buffer))
			}
			buffer = append(buffer, f.Chunk.Data...)
			hash.Write(f.Chunk.Data)
		case *pb.MessageFrame_End:
			if current == nil {
				return nil, integrity("", "an end frame arrived before any summary frame")
			}
			end := f.End
			if end.Uid != "" && end.Uid != current.Uid {
				return nil, integrity(current.Uid, "end frame for '%s' closes message '%s'", end.Uid, current.Uid)
			}
			if end.Size != int64(len(buffer)) {
				return nil, integrity(current.Uid, "message '%s': the end frame says %d bytes, %d arrived", current.Uid, end.Size, len(buffer))
			}
			actual := hex.EncodeToString(hash.Sum(nil))
			// The headers-only view sends no chunks and may hash nothing; anything with bytes must carry a hash.
			if !(len(buffer) == 0 && end.Sha256 == "") && actual != strings.ToLower(end.Sha256) {
				return nil, integrity(current.Uid, "message '%s': SHA-256 mismatch (server %s, received %s)", current.Uid, end.Sha256, actual)
			}
			return &ReceivedMessage{UID: current.Uid, Summary: current, Content: buffer, Sha256: actual}, nil
		case *pb.MessageFrame_Skipped:
			if current == nil {
				return nil, integrity("", "a skipped frame arrived before any summary frame")
			}
			if len(buffer) != 0 {
				return nil, integrity(current.Uid, "message '%s' was skipped after %d bytes were sent", current.Uid, len(buffer))
			}
			reason := f.Skipped.Reason
			if reason == "" {
				reason = "UNSPECIFIED"
			}
			return &ReceivedMessage{UID: current.Uid, Summary: current, SkipReason: reason}, nil
		default:
			uid := ""
			if current != nil {
				uid = current.Uid
			}
			return nil, integrity(uid, "unknown or empty frame")
		}
	}
}
