package mailgrpc

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers MailGrpc signs every webhook delivery with.
const (
	WebhookIDHeader        = "webhook-id"
	WebhookTimestampHeader = "webhook-timestamp"
	WebhookSignatureHeader = "webhook-signature"
	// DefaultWebhookTolerance is how far a delivery's signed timestamp may be from now, either way.
	DefaultWebhookTolerance = 5 * time.Minute
)

// Why a webhook delivery did not verify; the same codes in every MailGrpc SDK. Match them with errors.Is.
var (
	ErrWebhookInvalidSecret    = errors.New("INVALID_SECRET")
	ErrWebhookMissingHeader    = errors.New("MISSING_HEADER")
	ErrWebhookInvalidTimestamp = errors.New("INVALID_TIMESTAMP")
	ErrWebhookTimestampTooOld  = errors.New("TIMESTAMP_TOO_OLD")
	ErrWebhookTimestampTooNew  = errors.New("TIMESTAMP_TOO_NEW")
	ErrWebhookInvalidSignature = errors.New("INVALID_SIGNATURE")
	ErrWebhookInvalidPayload   = errors.New("INVALID_PAYLOAD")
)

// WebhookVerificationError is a delivery that did not verify: Code is one of the ErrWebhook* values (errors.Is
// matches it), Header names the missing header for ErrWebhookMissingHeader.
type WebhookVerificationError struct {
	Code    error
	Header  string
	Message string
}

func (e *WebhookVerificationError) Error() string { return e.Code.Error() + ": " + e.Message }

// Unwrap makes errors.Is(err, mailgrpc.ErrWebhookInvalidSignature) work.
func (e *WebhookVerificationError) Unwrap() error { return e.Code }

// WebhookEvent is a verified delivery: ID is the dedupe key (the same on every retry), Timestamp the signed attempt
// time, Type the payload's "type" (empty when it has none), Payload the JSON body as received.
type WebhookEvent struct {
	ID        string
	Timestamp time.Time
	Type      string
	Payload   json.RawMessage
}

func webhookHeader(header http.Header, name string) string {
	for key, values := range header {
		if strings.EqualFold(key, name) && len(values) > 0 {
			return strings.Join(values, ", ")
		}
	}
	return ""
}

func webhookSecretKey(secret string) ([]byte, error) {
	encoded := strings.TrimPrefix(secret, "whsec_")
	if encoded == secret || encoded == "" {
		return nil, &WebhookVerificationError{Code: ErrWebhookInvalidSecret, Message: "the webhook secret is not whsec_ followed by base64"}
	}
	key, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil || len(key) == 0 {
		return nil, &WebhookVerificationError{Code: ErrWebhookInvalidSecret, Message: "the webhook secret is not whsec_ followed by base64"}
	}
	return key, nil
}

// VerifyWebhook verifies a Standard Webhooks delivery from MailGrpc and returns its event. payload is the raw request
// body exactly as received (parse it only after verifying), header the request's headers (names matched
// case-insensitively), secret the endpoint's "whsec_..." secret, tolerance how far the signed timestamp may be from
// now either way (0 means DefaultWebhookTolerance). It checks the three headers, the timestamp, at least one "v1"
// signature (constant-time compare; during a secret rotation the header carries one per secret) and that the body is
// JSON, and returns a *WebhookVerificationError otherwise.
func VerifyWebhook(payload []byte, header http.Header, secret string, tolerance time.Duration) (*WebhookEvent, error) {
	return VerifyWebhookAt(payload, header, secret, tolerance, time.Now())
}

// VerifyWebhookAt is VerifyWebhook with the receiver's clock given (tests).
func VerifyWebhookAt(payload []byte, header http.Header, secret string, tolerance time.Duration, now time.Time) (*WebhookEvent, error) {
	key, err := webhookSecretKey(secret)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, name := range []string{WebhookIDHeader, WebhookTimestampHeader, WebhookSignatureHeader} {
		value := webhookHeader(header, name)
		if value == "" {
			return nil, &WebhookVerificationError{Code: ErrWebhookMissingHeader, Header: name, Message: "the " + name + " header is missing"}
		}
		values[name] = value
	}
	id, timestamp, signatures := values[WebhookIDHeader], values[WebhookTimestampHeader], values[WebhookSignatureHeader]
	if len(timestamp) > 15 || strings.Trim(timestamp, "0123456789") != "" {
		return nil, &WebhookVerificationError{Code: ErrWebhookInvalidTimestamp, Message: "webhook-timestamp is not a whole number of seconds since the Unix epoch"}
	}
	seconds, _ := strconv.ParseInt(timestamp, 10, 64)
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	allowed := int64(tolerance / time.Second)
	current := now.Unix()
	if current-seconds > allowed {
		return nil, &WebhookVerificationError{Code: ErrWebhookTimestampTooOld, Message: fmt.Sprintf("webhook-timestamp is more than %d s old", allowed)}
	}
	if seconds-current > allowed {
		return nil, &WebhookVerificationError{Code: ErrWebhookTimestampTooNew, Message: fmt.Sprintf("webhook-timestamp is more than %d s ahead of this clock", allowed)}
	}

	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(payload)
	expected := []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	matched := false
	for _, candidate := range strings.Split(signatures, " ") {
		version, given, found := strings.Cut(candidate, ",")
		// Constant-time compare; every candidate is checked.
		if found && version == "v1" && subtle.ConstantTimeCompare(expected, []byte(given)) == 1 {
			matched = true
		}
	}
	if !matched {
		return nil, &WebhookVerificationError{Code: ErrWebhookInvalidSignature, Message: "no v1 signature in webhook-signature matches this secret"}
	}

	if !json.Valid(payload) {
		return nil, &WebhookVerificationError{Code: ErrWebhookInvalidPayload, Message: "the signed body is not JSON"}
	}
	var typed struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(payload, &typed) // a body that is not an object, or a non-string type, has no Type
	return &WebhookEvent{ID: id, Timestamp: time.Unix(seconds, 0).UTC(), Type: typed.Type, Payload: json.RawMessage(payload)}, nil
}
