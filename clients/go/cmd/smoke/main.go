// Command smoke is the Go smoke test against a live server and the rig (run by clients/smoke-test.sh; the README
// example does the same): it registers a password mailbox, sets its password, streams every message (each SHA-256
// checked against the end frame and the expected set), acknowledges them with delete, and checks the mailbox is empty.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/mailgrpc/mailgrpc/clients/go/mailgrpc"
	pb "github.com/mailgrpc/mailgrpc/clients/go/mailgrpcv1"
)

func env(name string) string {
	value := os.Getenv(name)
	if value == "" {
		log.Fatalf("%s is not set", name)
	}
	return value
}

func main() {
	ctx := context.Background()
	client, err := mailgrpc.Dial(mailgrpc.Options{Target: env("MAILGRPC_TARGET"), APIKey: env("MAILGRPC_API_KEY")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	expected := map[string]bool{}
	for _, s := range strings.Split(env("MAILGRPC_SMOKE_EXPECTED_SHA256"), ",") {
		expected[s] = true
	}
	const consumer = "smoke-go"
	port, _ := strconv.Atoi(env("MAILGRPC_SMOKE_POP3_PORT"))
	port32 := int32(port)

	created, err := client.Mailboxes.CreateMailbox(ctx, &pb.CreateMailboxRequest{Mailbox: &pb.Mailbox{
		Username:    env("MAILGRPC_SMOKE_USER"),
		DisplayName: "Go smoke test",
		Server: &pb.ServerSettings{Host: env("MAILGRPC_SMOKE_POP3_HOST"), Port: &port32,
			Security: pb.Security(pb.Security_value["SECURITY_"+env("MAILGRPC_SMOKE_POP3_SECURITY")])},
		AuthMethod: &pb.AuthMethod{Method: &pb.AuthMethod_Password{Password: &pb.PasswordAuth{}}},
	}})
	if err != nil {
		log.Fatalf("CreateMailbox: %v", err)
	}
	mailboxID := created.Mailbox.MailboxId
	fmt.Printf("created mailbox %s\n", mailboxID)
	if _, err := client.Authorization.SetMailboxPassword(ctx, &pb.SetMailboxPasswordRequest{MailboxId: mailboxID, Password: env("MAILGRPC_SMOKE_PASSWORD")}); err != nil {
		log.Fatalf("SetMailboxPassword: %v", err)
	}

	reader, err := client.StreamMessages(ctx, &pb.StreamMessagesRequest{MailboxId: mailboxID, Consumer: consumer})
	if err != nil {
		log.Fatalf("StreamMessages: %v", err)
	}
	var uids []string
	for {
		message, err := reader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatalf("StreamMessages: %v", err)
		}
		if message.Skipped() {
			log.Fatalf("message %s was skipped: %s", message.UID, message.SkipReason)
		}
		if !expected[message.Sha256] {
			log.Fatalf("message %s has unexpected sha256 %s", message.UID, message.Sha256)
		}
		delete(expected, message.Sha256)
		uids = append(uids, message.UID)
		fmt.Printf("received %s: %d bytes, sha256 %s\n", message.UID, len(message.Content), message.Sha256)
	}
	if len(expected) != 0 {
		log.Fatalf("%d expected messages were not streamed", len(expected))
	}

	ack, err := client.Messages.AcknowledgeMessages(ctx, &pb.AcknowledgeMessagesRequest{MailboxId: mailboxID, Consumer: consumer, Uids: uids, Delete: true})
	if err != nil {
		log.Fatalf("AcknowledgeMessages: %v", err)
	}
	deleted := append([]string{}, ack.DeletedUids...)
	sort.Strings(deleted)
	sort.Strings(uids)
	if strings.Join(deleted, ",") != strings.Join(uids, ",") {
		log.Fatalf("acknowledge deleted %v of %v", ack.DeletedUids, uids)
	}
	listed, err := client.Messages.ListMessages(ctx, &pb.ListMessagesRequest{MailboxId: mailboxID})
	if err != nil {
		log.Fatalf("ListMessages: %v", err)
	}
	if listed.TotalCount != 0 {
		log.Fatalf("mailbox still holds %d messages", listed.TotalCount)
	}
	if _, err := client.Mailboxes.DeleteMailbox(ctx, &pb.DeleteMailboxRequest{MailboxId: mailboxID}); err != nil {
		log.Fatalf("DeleteMailbox: %v", err)
	}
	fmt.Printf("go smoke: %d messages streamed, verified, acknowledged and deleted; mailbox empty\n", len(uids))
}
