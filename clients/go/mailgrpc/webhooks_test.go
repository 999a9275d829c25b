package mailgrpc

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The vectors the server's signer produced (first case: the Standard Webhooks libraries' published vector).
type webhookVector struct {
	Name             string            `json:"name"`
	Secret           string            `json:"secret"`
	Payload          string            `json:"payload"`
	Headers          map[string]string `json:"headers"`
	Now              int64             `json:"now"`
	ToleranceSeconds int64             `json:"tolerance_seconds"`
	Expect           struct {
		Valid     bool    `json:"valid"`
		ID        string  `json:"id"`
		Timestamp int64   `json:"timestamp"`
		Type      *string `json:"type"`
		Error     string  `json:"error"`
		Header    *string `json:"header"`
	} `json:"expect"`
}

func loadWebhookVectors(t *testing.T) []webhookVector {
	t.Helper()
	data, err := os.ReadFile("../../testdata/webhook-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []webhookVector `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	return file.Cases
}

// rawHeader keeps the names exactly as in the file (no canonicalization), as a proxy might pass them on.
func rawHeader(headers map[string]string) http.Header {
	h := http.Header{}
	for k, v := range headers {
		h[k] = []string{v}
	}
	return h
}

func TestWebhookVectorsFileHasTheSpecificationVectorAndEveryCode(t *testing.T) {
	vectors := loadWebhookVectors(t)
	if len(vectors) < 25 || vectors[0].Headers["webhook-signature"] != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("unexpected vectors: %d, first %+v", len(vectors), vectors[0])
	}
	codes := map[string]bool{}
	for _, v := range vectors {
		codes[v.Expect.Error] = true
	}
	for _, code := range []error{ErrWebhookInvalidSecret, ErrWebhookMissingHeader, ErrWebhookInvalidTimestamp, ErrWebhookTimestampTooOld, ErrWebhookTimestampTooNew, ErrWebhookInvalidSignature, ErrWebhookInvalidPayload} {
		if !codes[code.Error()] {
			t.Errorf("no vector for %v", code)
		}
	}
}

func TestWebhookVectors(t *testing.T) {
	codes := map[string]error{}
	for _, code := range []error{ErrWebhookInvalidSecret, ErrWebhookMissingHeader, ErrWebhookInvalidTimestamp, ErrWebhookTimestampTooOld, ErrWebhookTimestampTooNew, ErrWebhookInvalidSignature, ErrWebhookInvalidPayload} {
		codes[code.Error()] = code
	}
	for _, v := range loadWebhookVectors(t) {
		v := v
		t.Run(v.Name, func(t *testing.T) {
			for _, header := range []http.Header{rawHeader(v.Headers), canonicalHeader(v.Headers)} {
				event, err := VerifyWebhookAt([]byte(v.Payload), header, v.Secret, time.Duration(v.ToleranceSeconds)*time.Second, time.Unix(v.Now, 0))
				if v.Expect.Valid {
					if err != nil {
						t.Fatalf("expected valid, got %v", err)
					}
					wantType := ""
					if v.Expect.Type != nil {
						wantType = *v.Expect.Type
					}
					if event.ID != v.Expect.ID || event.Timestamp.Unix() != v.Expect.Timestamp || event.Type != wantType || string(event.Payload) != v.Payload {
						t.Fatalf("unexpected event %+v", event)
					}
					continue
				}
				var e *WebhookVerificationError
				if !errors.As(err, &e) || !errors.Is(err, codes[v.Expect.Error]) {
					t.Fatalf("expected %s, got %v", v.Expect.Error, err)
				}
				wantHeader := ""
				if v.Expect.Header != nil {
					wantHeader = *v.Expect.Header
				}
				if e.Header != wantHeader {
					t.Fatalf("expected header %q, got %q", wantHeader, e.Header)
				}
			}
		})
	}
}

func canonicalHeader(headers map[string]string) http.Header {
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	return h
}

func TestWebhookDefaultToleranceIsFiveMinutes(t *testing.T) {
	v := loadWebhookVectors(t)[0]
	if _, err := VerifyWebhookAt([]byte(v.Payload), canonicalHeader(v.Headers), v.Secret, 0, time.Unix(v.Now+300, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyWebhookAt([]byte(v.Payload), canonicalHeader(v.Headers), v.Secret, 0, time.Unix(v.Now+301, 0)); !errors.Is(err, ErrWebhookTimestampTooOld) {
		t.Fatalf("expected too old, got %v", err)
	}
}

func TestWebhookErrorNeverContainsTheSecret(t *testing.T) {
	for _, v := range loadWebhookVectors(t) {
		if !strings.HasPrefix(v.Name, "rotation: neither") {
			continue
		}
		_, err := VerifyWebhookAt([]byte(v.Payload), canonicalHeader(v.Headers), v.Secret, 0, time.Unix(v.Now, 0))
		if err == nil || strings.Contains(err.Error(), v.Secret[6:]) {
			t.Fatalf("unexpected %v", err)
		}
		return
	}
	t.Fatal("no rotation vector")
}
