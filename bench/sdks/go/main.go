// Command bench streams one mailbox through the Go SDK ("sdk": Client.StreamMessages, SHA-256 checked by the SDK) or
// through a bare grpc-go connection and the generated stub ("bare": frames hashed here), and prints
// "RESULT <mode> <messages> <bytes> <seconds>". Run by bench/sdks.sh in GOPATH mode (clients/tools.sh go_env).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log"
	"os"
	"time"

	"github.com/mailgrpc/mailgrpc/clients/go/mailgrpc"
	pb "github.com/mailgrpc/mailgrpc/clients/go/mailgrpcv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

func main() {
	mode := os.Args[1]
	ctx := context.Background()
	request := &pb.StreamMessagesRequest{MailboxId: os.Getenv("BENCH_MAILBOX_ID"), View: pb.MessageView_MESSAGE_VIEW_FULL}
	var messages, size int
	started := time.Now()
	if mode == "sdk" {
		client, err := mailgrpc.Dial(mailgrpc.Options{Target: os.Getenv("MAILGRPC_TARGET"), APIKey: os.Getenv("MAILGRPC_API_KEY")})
		if err != nil {
			log.Fatal(err)
		}
		defer client.Close()
		reader, err := client.StreamMessages(ctx, request)
		if err != nil {
			log.Fatal(err)
		}
		for {
			message, err := reader.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				log.Fatal(err)
			}
			messages++
			size += len(message.Content)
		}
	} else {
		conn, err := grpc.Dial(os.Getenv("MAILGRPC_TARGET"), grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16*1024*1024)))
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		stream, err := pb.NewMessageServiceClient(conn).StreamMessages(metadata.AppendToOutgoingContext(ctx, "x-api-key", os.Getenv("MAILGRPC_API_KEY")), request)
		if err != nil {
			log.Fatal(err)
		}
		var digest hash.Hash = sha256.New()
		for {
			response, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				log.Fatal(err)
			}
			if chunk := response.GetFrame().GetChunk(); chunk != nil {
				digest.Write(chunk.Data)
				size += len(chunk.Data)
			} else if end := response.GetFrame().GetEnd(); end != nil {
				if hex.EncodeToString(digest.Sum(nil)) != end.Sha256 {
					log.Fatalf("SHA-256 mismatch for %s", end.Uid)
				}
				digest = sha256.New()
				messages++
			}
		}
	}
	fmt.Printf("RESULT %s %d %d %.3f\n", mode, messages, size, time.Since(started).Seconds())
}
