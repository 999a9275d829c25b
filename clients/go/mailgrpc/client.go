package mailgrpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	pb "github.com/mailgrpc/mailgrpc/clients/go/mailgrpcv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// Version is the version of the contract and of every MailGrpc SDK (the repository's VERSION file).
const Version = "0.2.0"

// Options says where and how to reach a MailGrpc server.
type Options struct {
	// Target is host:port of the gRPC endpoint.
	Target string
	// APIKey is sent as x-api-key on every call.
	APIKey string
	// TLS turns on TLS; CAFile adds a PEM root CA to trust (private PKI, test rigs). Without TLS the connection is
	// plaintext HTTP/2 (loopback and trusted networks).
	TLS    bool
	CAFile string
	// UnaryTimeout is the deadline of a unary call whose context has none; 30 s when zero. Streams get none.
	UnaryTimeout time.Duration
	// Retry is the retry policy of idempotent reads (see RetryPolicy); the zero value is the default policy.
	Retry RetryPolicy
}

// Client holds the generated stubs on one connection. Every call adds the API key and default deadline, retries
// idempotent reads on UNAVAILABLE, and returns an *Error for a refused call.
type Client struct {
	conn          *grpc.ClientConn
	Mailboxes     pb.MailboxServiceClient
	Authorization pb.AuthorizationServiceClient
	Messages      pb.MessageServiceClient
}

// Dial connects (lazily) to a MailGrpc server.
func Dial(options Options) (*Client, error) {
	if options.Target == "" || options.APIKey == "" {
		return nil, errors.New("mailgrpc: Target and APIKey are required")
	}
	unaryTimeout := options.UnaryTimeout
	if unaryTimeout == 0 {
		unaryTimeout = 30 * time.Second
	}
	transport := grpc.WithInsecure()
	if options.TLS || options.CAFile != "" {
		config := &tls.Config{MinVersion: tls.VersionTLS12}
		if options.CAFile != "" {
			pem, err := os.ReadFile(options.CAFile)
			if err != nil {
				return nil, fmt.Errorf("mailgrpc: reading CA file: %w", err)
			}
			roots, err := x509.SystemCertPool()
			if err != nil || roots == nil {
				roots = x509.NewCertPool()
			}
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("mailgrpc: no certificate in %s", options.CAFile)
			}
			config.RootCAs = roots
		}
		transport = grpc.WithTransportCredentials(credentials.NewTLS(config))
	}
	withKey := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "x-api-key", options.APIKey)
	}
	retry := unaryRetry(options.Retry)
	conn, err := grpc.Dial(options.Target, transport,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16*1024*1024)),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, unaryTimeout)
				defer cancel()
			}
			return AsError(retry(withKey(ctx), method, req, reply, cc, invoker, opts...))
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			stream, err := streamer(withKey(ctx), desc, cc, method, opts...)
			if err != nil {
				return nil, AsError(err)
			}
			return errorStream{stream}, nil
		}))
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, Mailboxes: pb.NewMailboxServiceClient(conn), Authorization: pb.NewAuthorizationServiceClient(conn), Messages: pb.NewMessageServiceClient(conn)}, nil
}

// errorStream returns an *Error for a stream the server ended with a refusal.
type errorStream struct{ grpc.ClientStream }

func (s errorStream) RecvMsg(m interface{}) error {
	if err := s.ClientStream.RecvMsg(m); err != io.EOF {
		return AsError(err)
	}
	return io.EOF
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// StreamMessages starts StreamMessages and returns a reader of whole, SHA-256-verified messages. Cancel ctx to stop
// the stream early.
func (c *Client) StreamMessages(ctx context.Context, request *pb.StreamMessagesRequest) (*MessageReader, error) {
	stream, err := c.Messages.StreamMessages(ctx, request)
	if err != nil {
		return nil, err
	}
	return NewMessageReader(func() (*pb.MessageFrame, error) {
		response, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return response.GetFrame(), nil
	}), nil
}

// Pager returns the items of a paged listing one at a time, fetching the next page when the current one is used up.
// Next returns io.EOF after the last item.
type Pager[T any] struct {
	fetch func(pageToken string) ([]T, string, error)
	items []T
	token string
	done  bool
}

// Next returns the next item, io.EOF after the last one, or the error of fetching a page.
func (p *Pager[T]) Next() (T, error) {
	var zero T
	for len(p.items) == 0 {
		if p.done {
			return zero, io.EOF
		}
		items, next, err := p.fetch(p.token)
		if err != nil {
			return zero, err
		}
		p.items, p.token, p.done = items, next, next == ""
	}
	item := p.items[0]
	p.items = p.items[1:]
	return item, nil
}

// ListMailboxes pages through every mailbox of the tenant (pageSize 0: the server's default).
func (c *Client) ListMailboxes(ctx context.Context, pageSize int32) *Pager[*pb.Mailbox] {
	return &Pager[*pb.Mailbox]{fetch: func(token string) ([]*pb.Mailbox, string, error) {
		page, err := c.Mailboxes.ListMailboxes(ctx, &pb.ListMailboxesRequest{PageSize: pageSize, PageToken: token})
		if err != nil {
			return nil, "", err
		}
		return page.GetMailboxes(), page.GetNextPageToken(), nil
	}}
}

// ListMessages pages through every message of a mailbox (uid, size; headers when asked).
func (c *Client) ListMessages(ctx context.Context, request *pb.ListMessagesRequest) *Pager[*pb.MessageInfo] {
	return &Pager[*pb.MessageInfo]{fetch: func(token string) ([]*pb.MessageInfo, string, error) {
		page, err := c.Messages.ListMessages(ctx, &pb.ListMessagesRequest{MailboxId: request.GetMailboxId(), PageSize: request.GetPageSize(),
			IncludeHeaders: request.GetIncludeHeaders(), Consumer: request.GetConsumer(), PageToken: token})
		if err != nil {
			return nil, "", err
		}
		return page.GetMessages(), page.GetNextPageToken(), nil
	}}
}
