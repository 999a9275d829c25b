package mailgrpc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	pb "github.com/mailgrpc/mailgrpc/clients/go/mailgrpcv1"
)

const chunk = 64 * 1024

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func mime(subject string, lines int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: %s\r\n\r\n", subject)
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "line %d of %s\r\n", i, subject)
	}
	return []byte(b.String())
}

func frames(uid string, content []byte, digest string) []*pb.MessageFrame {
	if digest == "" {
		digest = sha(content)
	}
	out := []*pb.MessageFrame{{Frame: &pb.MessageFrame_Summary{Summary: &pb.MessageSummary{Uid: uid, Size: int64(len(content))}}}}
	for offset := 0; offset < len(content); offset += chunk {
		end := offset + chunk
		if end > len(content) {
			end = len(content)
		}
		out = append(out, &pb.MessageFrame{Frame: &pb.MessageFrame_Chunk{Chunk: &pb.MessageChunk{Offset: int64(offset), Data: content[offset:end]}}})
	}
	return append(out, &pb.MessageFrame{Frame: &pb.MessageFrame_End{End: &pb.MessageEnd{Uid: uid, Size: int64(len(content)), Sha256: digest}}})
}

func reader(list []*pb.MessageFrame) *MessageReader {
	i := 0
	return NewMessageReader(func() (*pb.MessageFrame, error) {
		if i == len(list) {
			return nil, io.EOF
		}
		i++
		return list[i-1], nil
	})
}

func readAll(r *MessageReader) ([]*ReceivedMessage, error) {
	var out []*ReceivedMessage
	for {
		m, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func TestReassemblesMessagesAcrossChunksAndVerifiesTheirSha256(t *testing.T) {
	a, b := mime("first", 10000), mime("second", 2)
	if len(a) <= 2*chunk {
		t.Fatalf("test message too small: %d", len(a))
	}
	messages, err := readAll(reader(append(frames("u1", a, ""), frames("u2", b, "")...)))
	if err != nil {
		t.Fatal(err)
	}
	if len(messages) != 2 || messages[0].UID != "u1" || !bytes.Equal(messages[0].Content, a) || messages[0].Sha256 != sha(a) ||
		messages[1].UID != "u2" || !bytes.Equal(messages[1].Content, b) {
		t.Fatalf("unexpected messages: %v", messages)
	}
}

func TestASha256MismatchFailsBeforeTheMessageIsReturned(t *testing.T) {
	good := mime("good", 3)
	messages, err := readAll(reader(append(frames("u1", good, ""), frames("u2", mime("bad", 3), sha(good))...)))
	var integrityErr *IntegrityError
	if !errors.As(err, &integrityErr) || integrityErr.UID != "u2" || !strings.Contains(err.Error(), "SHA-256 mismatch") {
		t.Fatalf("want a SHA-256 IntegrityError for u2, got %v", err)
	}
	if len(messages) != 1 || messages[0].UID != "u1" {
		t.Fatalf("only u1 should have been returned, got %d", len(messages))
	}
}

func TestASkippedMessageIsReturnedWithItsReasonAndNoContent(t *testing.T) {
	after := mime("after", 2)
	list := []*pb.MessageFrame{
		{Frame: &pb.MessageFrame_Summary{Summary: &pb.MessageSummary{Uid: "big", Size: 99000000}}},
		{Frame: &pb.MessageFrame_Skipped{Skipped: &pb.MessageSkipped{Uid: "big", Reason: "MESSAGE_TOO_LARGE"}}},
	}
	messages, err := readAll(reader(append(list, frames("u2", after, "")...)))
	if err != nil {
		t.Fatal(err)
	}
	if len(messages) != 2 || !messages[0].Skipped() || messages[0].SkipReason != "MESSAGE_TOO_LARGE" || len(messages[0].Content) != 0 ||
		messages[1].Skipped() || !bytes.Equal(messages[1].Content, after) {
		t.Fatalf("unexpected messages: %+v", messages)
	}
}

func TestAnOffsetGapAndACutStreamAreRefused(t *testing.T) {
	all := frames("u1", mime("gap", 10000), "")
	gap := append(append([]*pb.MessageFrame{}, all[:2]...), all[3:]...)
	if _, err := readAll(reader(gap)); err == nil || !strings.Contains(err.Error(), "expected 65536") {
		t.Fatalf("want an offset error, got %v", err)
	}
	if _, err := readAll(reader(all[:len(all)-1])); err == nil || !strings.Contains(err.Error(), "ended in the middle") {
		t.Fatalf("want a cut-stream error, got %v", err)
	}
}
