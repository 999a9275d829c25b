import json
import unittest

import grpc
from google.protobuf import any_pb2

from google.rpc import error_details_pb2, status_pb2
from mailgrpc.v1 import error_reason_pb2
from mailgrpc_client import ErrorReason, MailGrpcError, service_config


class _Refusal(grpc.RpcError):
    def __init__(self, code, reason=None, **metadata):
        self._code, self._trailers = code, ()
        if reason is not None:
            detail = any_pb2.Any()
            detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="mailgrpc.v1", metadata=metadata))
            status = status_pb2.Status(code=code.value[0], message="refused", details=[detail])
            self._trailers = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self):
        return self._code

    def details(self):
        return "refused"

    def trailing_metadata(self):
        return self._trailers


class MailGrpcErrorTest(unittest.TestCase):
    def test_known_reason_becomes_the_enum_value_with_metadata(self):
        error = MailGrpcError.from_rpc_error(_Refusal(grpc.StatusCode.NOT_FOUND, "MAILBOX_NOT_FOUND", mailbox_id="m1"))
        self.assertIsInstance(error, MailGrpcError)
        self.assertEqual(error.reason, error_reason_pb2.MAILBOX_NOT_FOUND)
        self.assertEqual(error.reason, ErrorReason.Value("MAILBOX_NOT_FOUND"))
        self.assertEqual(error.reason_name, "MAILBOX_NOT_FOUND")
        self.assertEqual(error.metadata, {"mailbox_id": "m1"})
        self.assertEqual(error.code(), grpc.StatusCode.NOT_FOUND)
        self.assertFalse(error.is_transient)

    def test_newer_reason_keeps_its_string(self):
        error = MailGrpcError.from_rpc_error(_Refusal(grpc.StatusCode.UNAVAILABLE, "SOMETHING_NEW"))
        self.assertEqual(error.reason, error_reason_pb2.ERROR_REASON_UNSPECIFIED)
        self.assertEqual(error.reason_name, "SOMETHING_NEW")
        self.assertTrue(error.is_transient)

    def test_status_without_details_stays_as_it_is(self):
        plain = _Refusal(grpc.StatusCode.UNAVAILABLE)
        self.assertIs(MailGrpcError.from_rpc_error(plain), plain)

    def test_retry_policy_covers_reads_only_and_unavailable_only(self):
        config = json.loads(service_config())["methodConfig"][0]
        self.assertEqual(config["retryPolicy"]["retryableStatusCodes"], ["UNAVAILABLE"])
        methods = {n["method"] for n in config["name"]}
        self.assertIn("ListMessages", methods)
        self.assertNotIn("CreateMailbox", methods)
        self.assertNotIn("AcknowledgeMessages", methods)
        self.assertEqual(json.loads(service_config(1)), {})


if __name__ == "__main__":
    unittest.main()
