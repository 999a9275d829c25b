package mailgrpc

import (
	"errors"
	"fmt"

	pb "github.com/mailgrpc/mailgrpc/clients/go/mailgrpcv1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a call MailGrpc refused, with the google.rpc.ErrorInfo the server sent. Every call of a Client returns it
// for a refused call; find it with errors.As and branch on Reason, never on the message:
//
//	var e *mailgrpc.Error
//	if errors.As(err, &e) && e.Reason == mailgrpcv1.ErrorReason_MAILBOX_NOT_FOUND { ... }
//
// status.FromError and status.Code still work on it (it has GRPCStatus).
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Reason is the contract's enum value; ErrorReason_ERROR_REASON_UNSPECIFIED for a reason newer than this package.
	Reason pb.ErrorReason
	// ReasonName is the reason exactly as sent (e.g. "MAILBOX_NOT_FOUND").
	ReasonName string
	// Domain is "mailgrpc.v1".
	Domain string
	// Message is for people.
	Message string
	// Metadata says what the error is about ("field", "mailbox_id", "state", "cause", ...); never a secret.
	Metadata map[string]string

	status *status.Status
}

func (e *Error) Error() string {
	return fmt.Sprintf("mailgrpc: %s %s: %s", e.Code, e.ReasonName, e.Message)
}

// GRPCStatus returns the status the server sent, so status.FromError(err) keeps working.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Transient reports whether the retry policy treats the error as transient (UNAVAILABLE); anything else says what
// to fix.
func (e *Error) Transient() bool { return e.Code == codes.Unavailable }

// AsError converts a gRPC error with an ErrorInfo detail into an *Error; any other error is returned as it is.
func AsError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			reason := pb.ErrorReason_ERROR_REASON_UNSPECIFIED
			if value, known := pb.ErrorReason_value[info.GetReason()]; known {
				reason = pb.ErrorReason(value)
			}
			metadata := make(map[string]string, len(info.GetMetadata()))
			for k, v := range info.GetMetadata() {
				metadata[k] = v
			}
			return &Error{Code: st.Code(), Reason: reason, ReasonName: info.GetReason(), Domain: info.GetDomain(),
				Message: st.Message(), Metadata: metadata, status: st}
		}
	}
	return err
}
