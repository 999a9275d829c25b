package mailgrpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	pb "github.com/mailgrpc/mailgrpc/clients/go/mailgrpcv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

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
	// UnaryTimeout is the deadline of a unary call whose context has none; 30 s when zero.
	UnaryTimeout time.Duration
}

// Client holds the generated stubs on one connection.
type Client struct {
	conn          *grpc.ClientConn
	Mailboxes     pb.MailboxServiceClient
	Authorization pb.AuthorizationServiceClient
	Messages      pb.MessageServiceClient
}

// Retries for idempotent reads on UNAVAILABLE (grpc-go before 1.40 applies them only with GRPC_GO_RETRY=on).
const serviceConfig = `{"methodConfig":[{"name":[
 {"service":"mailgrpc.v1.MailboxService","method":"GetMailbox"},
 {"service":"mailgrpc.v1.MailboxService","method":"ListMailboxes"},
 {"service":"mailgrpc.v1.AuthorizationService","method":"GetAuthorizationStatus"},
 {"service":"mailgrpc.v1.MessageService","method":"ListMessages"},
 {"service":"mailgrpc.v1.MessageService","method":"StreamMessages"},
 {"service":"mailgrpc.v1.MessageService","method":"GetMessage"}],
 "retryPolicy":{"maxAttempts":4,"initialBackoff":"0.2s","maxBackoff":"2s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}`

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
	conn, err := grpc.Dial(options.Target, transport, grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, unaryTimeout)
				defer cancel()
			}
			return invoker(withKey(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(withKey(ctx), desc, cc, method, opts...)
		}))
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, Mailboxes: pb.NewMailboxServiceClient(conn), Authorization: pb.NewAuthorizationServiceClient(conn), Messages: pb.NewMessageServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// StreamMessages starts StreamMessages and returns a reader of whole, SHA-256-verified messages.
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
