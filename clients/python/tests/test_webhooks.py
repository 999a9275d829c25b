import json
import pathlib
import unittest
from datetime import timedelta

from mailgrpc_client import WebhookVerificationError, verify_webhook

# The vectors the server's signer produced (first case: the Standard Webhooks libraries' published vector).
VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[2] / "testdata" / "webhook-vectors.json").read_text("utf-8"))["cases"]


class WebhookVectorsTest(unittest.TestCase):
    def test_the_file_has_the_specification_vector_and_every_error_code(self):
        self.assertGreaterEqual(len(VECTORS), 25)
        self.assertEqual(VECTORS[0]["headers"]["webhook-signature"], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        codes = {v["expect"].get("error") for v in VECTORS if not v["expect"]["valid"]}
        self.assertEqual(codes, {"INVALID_SECRET", "MISSING_HEADER", "INVALID_TIMESTAMP", "TIMESTAMP_TOO_OLD",
                                 "TIMESTAMP_TOO_NEW", "INVALID_SIGNATURE", "INVALID_PAYLOAD"})

    def test_every_vector(self):
        for v in VECTORS:
            with self.subTest(v["name"]):
                expect = v["expect"]
                for payload in (v["payload"], v["payload"].encode("utf-8")):
                    if expect["valid"]:
                        event = verify_webhook(payload, v["headers"], v["secret"], v["tolerance_seconds"], now=v["now"])
                        self.assertEqual(event.id, expect["id"])
                        self.assertEqual(int(event.timestamp.timestamp()), expect["timestamp"])
                        self.assertEqual(event.type, expect["type"])
                        self.assertEqual(event.payload, json.loads(v["payload"]))
                    else:
                        with self.assertRaises(WebhookVerificationError) as raised:
                            verify_webhook(payload, v["headers"], v["secret"], timedelta(seconds=v["tolerance_seconds"]), now=v["now"])
                        self.assertEqual(raised.exception.code, expect["error"])
                        self.assertEqual(raised.exception.header, expect["header"])

    def test_the_default_tolerance_is_five_minutes(self):
        v = VECTORS[0]
        self.assertEqual(verify_webhook(v["payload"], v["headers"], v["secret"], now=v["now"] + 300).id, v["headers"]["webhook-id"])
        with self.assertRaises(WebhookVerificationError) as raised:
            verify_webhook(v["payload"], v["headers"], v["secret"], now=v["now"] + 301)
        self.assertEqual(raised.exception.code, "TIMESTAMP_TOO_OLD")

    def test_the_error_never_contains_the_secret(self):
        v = next(x for x in VECTORS if x["name"].startswith("rotation: neither"))
        with self.assertRaises(WebhookVerificationError) as raised:
            verify_webhook(v["payload"], v["headers"], v["secret"], now=v["now"])
        self.assertNotIn(v["secret"][6:], str(raised.exception))


if __name__ == "__main__":
    unittest.main()
