package mailgrpc

import (
	"context"
	"math/rand"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// IdempotentReads are the only calls retried (full method names). Streams are not retried here: a stream may have
// delivered messages before it failed.
var IdempotentReads = map[string]bool{
	"/mailgrpc.v1.MailboxService/GetMailbox":                   true,
	"/mailgrpc.v1.MailboxService/ListMailboxes":                true,
	"/mailgrpc.v1.AuthorizationService/GetAuthorizationStatus": true,
	"/mailgrpc.v1.MessageService/ListMessages":                 true,
}

// RetryPolicy is the retry policy of every MailGrpc SDK (clients/README.md#retries): idempotent reads only, on
// UNAVAILABLE only, with exponential backoff. It is an interceptor, so it needs no GRPC_GO_RETRY (grpc-go before
// 1.40 applies service-config retries only with that variable).
type RetryPolicy struct {
	// MaxAttempts is the number of tries in all; 1 turns retries off. 4 when zero; at most 5.
	MaxAttempts int
	// InitialBackoff doubles (with jitter) up to MaxBackoff. 200 ms and 2 s when zero.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 4
	}
	if p.MaxAttempts > 5 {
		p.MaxAttempts = 5
	}
	if p.InitialBackoff == 0 {
		p.InitialBackoff = 200 * time.Millisecond
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = 2 * time.Second
	}
	return p
}

// unaryRetry retries idempotent reads on UNAVAILABLE; the context's deadline and cancellation bound the waiting.
func unaryRetry(policy RetryPolicy) grpc.UnaryClientInterceptor {
	policy = policy.withDefaults()
	return func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if !IdempotentReads[method] {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		backoff := policy.InitialBackoff
		for attempt := 1; ; attempt++ {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err == nil || status.Code(err) != codes.Unavailable || attempt >= policy.MaxAttempts {
				return err
			}
			wait := backoff/2 + time.Duration(rand.Int63n(int64(backoff/2)+1))
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return err
			case <-timer.C:
			}
			if backoff *= 2; backoff > policy.MaxBackoff {
				backoff = policy.MaxBackoff
			}
		}
	}
}
