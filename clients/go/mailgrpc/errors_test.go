package mailgrpc

import (
	"context"
	"errors"
	"testing"

	pb "github.com/mailgrpc/mailgrpc/clients/go/mailgrpcv1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func refusal(t *testing.T, code codes.Code, reason string, metadata map[string]string) error {
	st, err := status.New(code, "refused").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "mailgrpc.v1", Metadata: metadata})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestKnownReasonBecomesTheEnumValueWithMetadata(t *testing.T) {
	err := AsError(refusal(t, codes.NotFound, "MAILBOX_NOT_FOUND", map[string]string{"mailbox_id": "m1"}))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("not an *Error: %v", err)
	}
	if e.Reason != pb.ErrorReason_MAILBOX_NOT_FOUND || e.ReasonName != "MAILBOX_NOT_FOUND" || e.Metadata["mailbox_id"] != "m1" || e.Code != codes.NotFound || e.Transient() {
		t.Fatalf("unexpected %+v", e)
	}
	if status.Code(err) != codes.NotFound {
		t.Fatalf("status.Code = %v", status.Code(err))
	}
}

func TestNewerReasonKeepsItsStringAndPlainErrorsStay(t *testing.T) {
	var e *Error
	if !errors.As(AsError(refusal(t, codes.Unavailable, "SOMETHING_NEW", nil)), &e) || e.Reason != pb.ErrorReason_ERROR_REASON_UNSPECIFIED || e.ReasonName != "SOMETHING_NEW" || !e.Transient() {
		t.Fatalf("unexpected %+v", e)
	}
	plain := status.Error(codes.Unavailable, "proxy")
	if AsError(plain) != plain {
		t.Fatal("a status without ErrorInfo was changed")
	}
}

func TestRetryPolicyRetriesReadsOnUnavailableOnly(t *testing.T) {
	run := func(method string, failures ...codes.Code) (int, error) {
		calls := 0
		invoker := func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
			calls++
			if calls <= len(failures) {
				return status.Error(failures[calls-1], "x")
			}
			return nil
		}
		err := unaryRetry(RetryPolicy{InitialBackoff: 1000, MaxBackoff: 2000})(context.Background(), method, nil, nil, nil, invoker)
		return calls, err
	}
	if calls, err := run("/mailgrpc.v1.MessageService/ListMessages", codes.Unavailable, codes.Unavailable); calls != 3 || err != nil {
		t.Fatalf("read: %d calls, %v", calls, err)
	}
	if calls, err := run("/mailgrpc.v1.MessageService/ListMessages", codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable); calls != 4 || status.Code(err) != codes.Unavailable {
		t.Fatalf("exhausted: %d calls, %v", calls, err)
	}
	if calls, _ := run("/mailgrpc.v1.MailboxService/GetMailbox", codes.FailedPrecondition); calls != 1 {
		t.Fatalf("FAILED_PRECONDITION retried: %d calls", calls)
	}
	if calls, _ := run("/mailgrpc.v1.MailboxService/CreateMailbox", codes.Unavailable); calls != 1 {
		t.Fatalf("a write retried: %d calls", calls)
	}
}
