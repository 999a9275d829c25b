// Streams one mailbox through the TypeScript SDK ("sdk": client.streamMessages, SHA-256 checked by the SDK) or
// through a bare Connect client of the generated service ("bare": frames hashed here); prints
// "RESULT <mode> <messages> <bytes> <seconds>". Run by bench/sdks.sh with the SDK's folder as NODE_PATH-free imports.
import { createHash } from "node:crypto";
const sdkDir = process.env.SDK_DIR;
const { createMailGrpcClient, MessageService, MessageView } = await import(`${sdkDir}/dist/index.js`);
const { createClient } = await import(`${sdkDir}/node_modules/@connectrpc/connect/dist/esm/index.js`);
const { createGrpcTransport } = await import(`${sdkDir}/node_modules/@connectrpc/connect-node/dist/esm/index.js`);

const mode = process.argv[2];
const address = process.env.MAILGRPC_ADDRESS, apiKey = process.env.MAILGRPC_API_KEY;
const request = { mailboxId: process.env.BENCH_MAILBOX_ID, view: MessageView.FULL };
let messages = 0, bytes = 0;
const started = process.hrtime.bigint();
if (mode === "sdk") {
  const client = createMailGrpcClient({ address, apiKey });
  for await (const message of client.streamMessages(request)) {
    messages++;
    bytes += message.content.length;
  }
} else {
  const stub = createClient(MessageService, createGrpcTransport({ baseUrl: address }));
  let hash = createHash("sha256");
  for await (const response of stub.streamMessages(request, { headers: { "x-api-key": apiKey } })) {
    const frame = response.frame?.frame;
    if (frame?.case === "chunk") {
      hash.update(frame.value.data);
      bytes += frame.value.data.length;
    } else if (frame?.case === "end") {
      if (hash.digest("hex") !== frame.value.sha256) throw new Error(`SHA-256 mismatch for ${frame.value.uid}`);
      hash = createHash("sha256");
      messages++;
    }
  }
}
console.log(`RESULT ${mode} ${messages} ${bytes} ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(3)}`);
