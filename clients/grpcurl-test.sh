#!/usr/bin/env bash
# Runs the docs/grpcurl.md calls with `buf curl` (npm @bufbuild/buf, pinned in the root package.json), which speaks
# gRPC with server reflection exactly like grpcurl: no .proto files are given to it. Covers --list-services,
# --list-methods, unary calls of every service, a server stream (StreamMessages), a call without the API key, and two
# refused calls whose google.rpc.ErrorInfo is decoded with the descriptor reflection serves (as grpcurl does).
#
# Needs a running server and a seeded rig mailbox; clients/smoke-test.sh provides them through:
#   MAILGRPC_ADDRESS (http://127.0.0.1:PORT), MAILGRPC_API_KEY, MAILGRPC_SMOKE_USER, MAILGRPC_SMOKE_PASSWORD,
#   MAILGRPC_SMOKE_POP3_HOST, MAILGRPC_SMOKE_POP3_PORT, MAILGRPC_SMOKE_EXPECTED_SHA256 (comma-separated).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
: "${MAILGRPC_ADDRESS:?}" "${MAILGRPC_API_KEY:?}" "${MAILGRPC_SMOKE_USER:?}" "${MAILGRPC_SMOKE_PASSWORD:?}"
: "${MAILGRPC_SMOKE_POP3_HOST:?}" "${MAILGRPC_SMOKE_POP3_PORT:?}" "${MAILGRPC_SMOKE_EXPECTED_SHA256:?}"

cd "$REPO_ROOT"
[[ -x node_modules/.bin/buf ]] || npm ci --no-audit --no-fund --loglevel=error >&2
# The platform binary itself when present: npx and the node shim add up to a second to each of the dozen calls.
buf="$(ls "$REPO_ROOT"/node_modules/@bufbuild/buf-linux-*/bin/buf 2>/dev/null | head -n 1)"
[[ -x $buf ]] || buf="$REPO_ROOT/node_modules/.bin/buf"
base="$MAILGRPC_ADDRESS"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

curl_() { # curl_ NAME SERVICE/METHOD JSON [extra buf curl flags...] : output in $out/NAME.json, stderr in $out/NAME.err
  local name="$1" method="$2" data="$3"
  shift 3
  echo "buf curl $method" >&2
  "$buf" curl --protocol grpc --http2-prior-knowledge -H "x-api-key: $MAILGRPC_API_KEY" "$@" \
    -d "$data" "$base/mailgrpc.v1.$method" >"$out/$name.json" 2>"$out/$name.err"
}
fail() { echo "not ok - $*"; echo "--- stdout/stderr of the last call:"; cat "$out"/*.err 2>/dev/null | tail -n 20; exit 1; }
ok() { echo "ok - $*"; }
# json FILE PYTHON_EXPR : evaluates an expression over `docs`, the list of JSON documents in FILE (a stream prints several).
json() {
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
docs, i, decoder = [], 0, json.JSONDecoder()
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    doc, i = decoder.raw_decode(text, i)
    docs.append(doc)
value = eval(sys.argv[2], {"docs": docs})
print(value if not isinstance(value, bool) else str(value).lower())
PY
}

# Reflection: every service and every RPC, without proto files.
"$buf" curl --protocol grpc --http2-prior-knowledge --list-services "$base" >"$out/services.txt" 2>"$out/services.err" || fail "--list-services"
for s in mailgrpc.v1.MailboxService mailgrpc.v1.AuthorizationService mailgrpc.v1.MessageService grpc.health.v1.Health; do
  grep -qx "$s" "$out/services.txt" || fail "--list-services lacks $s"
done
ok "--list-services shows the three MailGrpc services and health"
"$buf" curl --protocol grpc --http2-prior-knowledge --list-methods "$base" >"$out/methods.txt" 2>"$out/methods.err" || fail "--list-methods"
expected_methods=(
  MailboxService/CreateMailbox MailboxService/GetMailbox MailboxService/ListMailboxes MailboxService/UpdateMailbox
  MailboxService/DeleteMailbox MailboxService/DiagnoseMailbox
  AuthorizationService/BeginAuthorization AuthorizationService/CompleteAuthorization
  AuthorizationService/StartDeviceAuthorization AuthorizationService/AuthorizeWithClientCredentials
  AuthorizationService/ImportRefreshToken AuthorizationService/SetMailboxPassword
  AuthorizationService/GetAuthorizationStatus AuthorizationService/RevokeAuthorization
  MessageService/ListMessages MessageService/StreamMessages MessageService/GetMessage
  MessageService/AcknowledgeMessages MessageService/DeleteMessages MessageService/WatchMessages
)
for m in "${expected_methods[@]}"; do
  grep -qx "mailgrpc.v1.$m" "$out/methods.txt" || fail "--list-methods lacks mailgrpc.v1.$m"
done
ok "--list-methods shows all ${#expected_methods[@]} RPCs"

# The API key is required.
if "$buf" curl --protocol grpc --http2-prior-knowledge -d '{}' "$base/mailgrpc.v1.MailboxService/ListMailboxes" >"$out/nokey.json" 2>"$out/nokey.err"; then
  fail "ListMailboxes without x-api-key succeeded"
fi
grep -qi unauthenticated "$out/nokey.err" || fail "ListMailboxes without x-api-key did not fail with UNAUTHENTICATED"
ok "a call without x-api-key fails with UNAUTHENTICATED"

# Refused calls carry a google.rpc.ErrorInfo, and reflection describes its type, so reflection clients decode it
# (grpcurl prints it decoded). buf curl itself prints details as base64: it decodes them only with the types compiled
# into the buf binary (connect-go's error writer), never through reflection. So this test fetches ErrorInfo's
# descriptor over reflection exactly as grpcurl does, and decodes buf curl's detail with it.
"$buf" curl --protocol grpc --http2-prior-knowledge -d '{"fileContainingSymbol":"google.rpc.ErrorInfo"}{"fileContainingSymbol":"mailgrpc.v1.ErrorReason"}' \
  "$base/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" >"$out/reflect.json" 2>"$out/reflect.err" || fail "reflection of google.rpc.ErrorInfo"
# error_info FILE : "CODE REASON DOMAIN" of the error buf curl printed (stderr), its detail decoded with the reflected type.
error_info() {
  "$PYTHON" - "$out/reflect.json" "$1" <<'PY'
import base64, json, sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
text, docs, i, decoder = open(sys.argv[1]).read(), [], 0, json.JSONDecoder()
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    doc, i = decoder.raw_decode(text, i)
    docs.append(doc)
pool = descriptor_pool.DescriptorPool()
files = [descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(b))
         for d in docs for b in d.get("fileDescriptorResponse", {}).get("fileDescriptorProto", [])]
pending = {f.name: f for f in files}
while pending:  # add each file after its imports
    for name, f in list(pending.items()):
        if all(dep not in pending for dep in f.dependency):
            pool.Add(f)
            del pending[name]
names = {f.name for f in files}
for need in ("google/rpc/error_details.proto", "mailgrpc/v1/error_reason.proto"):
    if need not in names:
        sys.exit(f"reflection did not serve {need} (got {sorted(names)})")
reason_enum = pool.FindEnumTypeByName("mailgrpc.v1.ErrorReason")
error_info = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("google.rpc.ErrorInfo"))
error = json.loads(open(sys.argv[2]).read())
details = [d for d in error.get("details", []) if d.get("type") == "google.rpc.ErrorInfo"]
if len(details) != 1:
    sys.exit("no google.rpc.ErrorInfo in: " + json.dumps(error))
info = error_info.FromString(base64.b64decode(details[0]["value"] + "=" * (-len(details[0]["value"]) % 4)))
if info.reason not in reason_enum.values_by_name:
    sys.exit(f"reason {info.reason} is not a mailgrpc.v1.ErrorReason value")
print(error["code"], info.reason, info.domain)
PY
}
if "$buf" curl --protocol grpc --http2-prior-knowledge -H "x-api-key: wrong-$MAILGRPC_API_KEY" -d '{}' \
  "$base/mailgrpc.v1.MailboxService/ListMailboxes" >"$out/badkey.json" 2>"$out/badkey.err"; then
  fail "ListMailboxes with a wrong x-api-key succeeded"
fi
[[ $(error_info "$out/badkey.err") == "unauthenticated API_KEY_INVALID mailgrpc.v1" ]] || fail "a wrong API key's ErrorInfo: $(error_info "$out/badkey.err" 2>&1)"
ok "a wrong API key: ErrorInfo decoded with the type reflection serves (UNAUTHENTICATED, API_KEY_INVALID)"
if curl_ nosuch MailboxService/GetMailbox '{"mailboxId":"no-such-mailbox"}'; then fail "GetMailbox of a missing mailbox succeeded"; fi
[[ $(error_info "$out/nosuch.err") == "not_found MAILBOX_NOT_FOUND mailgrpc.v1" ]] || fail "a missing mailbox's ErrorInfo: $(error_info "$out/nosuch.err" 2>&1)"
ok "a missing mailbox: ErrorInfo decoded with the type reflection serves (NOT_FOUND, MAILBOX_NOT_FOUND)"

# Unary calls.
create=$(printf '{"mailbox":{"username":"%s","displayName":"buf curl","server":{"host":"%s","port":%s,"security":"SECURITY_NONE"},"authMethod":{"password":{}}}}' \
  "$MAILGRPC_SMOKE_USER" "$MAILGRPC_SMOKE_POP3_HOST" "$MAILGRPC_SMOKE_POP3_PORT")
curl_ create MailboxService/CreateMailbox "$create" || fail "CreateMailbox"
id=$(json "$out/create.json" 'docs[0]["mailbox"]["mailboxId"]')
[[ $(json "$out/create.json" 'docs[0]["mailbox"]["state"]') == MAILBOX_STATE_PENDING_AUTHORIZATION ]] || fail "CreateMailbox state"
ok "CreateMailbox -> $id"
curl_ get MailboxService/GetMailbox "{\"mailboxId\":\"$id\"}" || fail "GetMailbox"
[[ $(json "$out/get.json" 'docs[0]["mailbox"]["username"]') == "$MAILGRPC_SMOKE_USER" ]] || fail "GetMailbox username"
etag=$(json "$out/get.json" 'docs[0]["mailbox"]["etag"]')
ok "GetMailbox"
curl_ list MailboxService/ListMailboxes '{"pageSize":100}' || fail "ListMailboxes"
[[ $(json "$out/list.json" "any(m['mailboxId'] == '$id' for m in docs[0].get('mailboxes', []))") == true ]] || fail "ListMailboxes lacks $id"
ok "ListMailboxes"
curl_ update MailboxService/UpdateMailbox "{\"mailbox\":{\"mailboxId\":\"$id\",\"displayName\":\"renamed by buf curl\",\"etag\":\"$etag\"},\"updateMask\":\"displayName\"}" || fail "UpdateMailbox"
[[ $(json "$out/update.json" 'docs[0]["mailbox"]["displayName"]') == "renamed by buf curl" ]] || fail "UpdateMailbox displayName"
ok "UpdateMailbox with a field mask and etag"
curl_ password AuthorizationService/SetMailboxPassword "{\"mailboxId\":\"$id\",\"password\":\"$MAILGRPC_SMOKE_PASSWORD\"}" || fail "SetMailboxPassword"
grep -q "$MAILGRPC_SMOKE_PASSWORD" "$out/password.json" && fail "SetMailboxPassword echoed the password"
ok "SetMailboxPassword"
curl_ status AuthorizationService/GetAuthorizationStatus "{\"mailboxId\":\"$id\"}" || fail "GetAuthorizationStatus"
[[ $(json "$out/status.json" 'docs[0]["status"]["credentialKind"]') == CREDENTIAL_KIND_PASSWORD ]] || fail "GetAuthorizationStatus credentialKind"
ok "GetAuthorizationStatus"
curl_ listmsg MessageService/ListMessages "{\"mailboxId\":\"$id\"}" || fail "ListMessages"
count=$(tr ',' '\n' <<<"$MAILGRPC_SMOKE_EXPECTED_SHA256" | grep -c .)
[[ $(json "$out/listmsg.json" 'docs[0].get("totalCount", 0)') == "$count" ]] || fail "ListMessages totalCount"
ok "ListMessages: $count messages"

# A server stream: summary -> chunks -> end for each message, with the SHA-256 the rig's files have.
curl_ stream MessageService/StreamMessages "{\"mailboxId\":\"$id\",\"consumer\":\"buf-curl\"}" || fail "StreamMessages"
shas=$(json "$out/stream.json" '",".join(sorted(d["frame"]["end"]["sha256"] for d in docs if "end" in d["frame"]))')
[[ $shas == $(tr ',' '\n' <<<"$MAILGRPC_SMOKE_EXPECTED_SHA256" | LC_ALL=C sort | paste -sd,) ]] || fail "StreamMessages end-frame SHA-256s differ from the seeded messages"
summaries=$(json "$out/stream.json" 'sum(1 for d in docs if "summary" in d["frame"])')
chunks=$(json "$out/stream.json" 'sum(1 for d in docs if "chunk" in d["frame"])')
[[ $summaries == "$count" && $chunks -gt $count ]] || fail "StreamMessages frames: $summaries summaries, $chunks chunks"
uids=$(json "$out/stream.json" '",".join("\"%s\"" % d["frame"]["end"]["uid"] for d in docs if "end" in d["frame"])')
ok "StreamMessages (server stream): $summaries messages in $chunks chunks, SHA-256s match"

curl_ ack MessageService/AcknowledgeMessages "{\"mailboxId\":\"$id\",\"consumer\":\"buf-curl\",\"uids\":[$uids],\"delete\":true}" || fail "AcknowledgeMessages"
[[ $(json "$out/ack.json" 'len(docs[0].get("deletedUids", []))') == "$count" ]] || fail "AcknowledgeMessages deleted"
curl_ empty MessageService/ListMessages "{\"mailboxId\":\"$id\"}" || fail "ListMessages after delete"
[[ $(json "$out/empty.json" 'docs[0].get("totalCount", 0)') == 0 ]] || fail "the mailbox is not empty after AcknowledgeMessages(delete)"
ok "AcknowledgeMessages with delete empties the mailbox"

curl_ delete MailboxService/DeleteMailbox "{\"mailboxId\":\"$id\"}" || fail "DeleteMailbox"
if curl_ gone MailboxService/GetMailbox "{\"mailboxId\":\"$id\"}"; then fail "GetMailbox after DeleteMailbox succeeded"; fi
grep -qi not_found "$out/gone.err" || fail "GetMailbox after DeleteMailbox is not NOT_FOUND"
ok "DeleteMailbox, then GetMailbox is NOT_FOUND"
