"""Unit tests of the pre-traffic hook with fake clients: no AWS account, no boto3.

    python3 -m unittest discover -s deploy/aws/hooks -v
"""

import contextlib
import io
import json
import os
import sys
import types
import unittest
from unittest import mock

import pre_traffic

ARN = "arn:aws:lambda:us-east-1:123456789012:function:muster-prod:7"
EVENT = {"DeploymentId": "d-ABC123", "LifecycleEventHookExecutionId": "exec-1"}


def report(**over):
    r = {"run_id": "20261202t045739-cebbed", "target": "loopback", "build": "91 (875cdda7a959)",
         "passed": 10, "failed": 0, "skipped": 0, "interrupted": False,
         "checks": [{"name": "ready", "operation": "GET /ready", "outcome": "pass", "status": 200,
                     "reason": None}]}
    r.update(over)
    return r


class FakeLambda:
    """Answers each invoke with the next scripted response; records the calls."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def invoke(self, **kw):
        self.calls.append(kw)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeCodeDeploy:
    def __init__(self):
        self.calls = []

    def put_lifecycle_event_hook_execution_status(self, **kw):
        self.calls.append(kw)
        return {"lifecycleEventHookExecutionId": kw["lifecycleEventHookExecutionId"]}


def ok(payload):
    """A successful synchronous invoke, its payload a stream like botocore's."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"StatusCode": 200, "Payload": io.BytesIO(body), "ExecutedVersion": "7"}


def function_error(message, kind="Unhandled"):
    body = json.dumps({"errorType": "MigrateError", "errorMessage": message}).encode()
    return {"StatusCode": 200, "FunctionError": kind, "Payload": io.BytesIO(body)}


class PreTrafficHookTest(unittest.TestCase):
    def run_hook(self, *answers, read_only=False, arn=ARN):
        self.lam, self.cd, self.lines = FakeLambda(*answers), FakeCodeDeploy(), []
        status = pre_traffic.run(EVENT, self.lam, self.cd, arn, read_only=read_only, log=self.lines.append)
        # exactly one report to CodeDeploy, for this deployment's hook execution, whatever happened
        self.assertEqual(len(self.cd.calls), 1)
        self.assertEqual(self.cd.calls[0]["deploymentId"], "d-ABC123")
        self.assertEqual(self.cd.calls[0]["lifecycleEventHookExecutionId"], "exec-1")
        self.assertEqual(self.cd.calls[0]["status"], status)
        return status

    def payloads(self):
        return [json.loads(c["Payload"]) for c in self.lam.calls]

    def reason(self):
        return json.loads(self.lines[-1])["reason"]

    def test_success_migrates_then_smoke_tests_the_new_version(self):
        status = self.run_hook(ok({"migrated": True}), ok(report()))
        self.assertEqual(status, "Succeeded")
        self.assertEqual(self.payloads(), [
            {"muster_migrate": True},
            {"muster_self_test": {"smoke": True, "read_only": False}},
        ])
        for call in self.lam.calls:
            self.assertEqual(call["FunctionName"], ARN)  # the version, never the alias
            self.assertEqual(call["InvocationType"], "RequestResponse")
        self.assertIn("10 passed, 0 failed", json.loads(self.lines[-1])["self_test"])

    def test_read_only_is_passed_to_the_self_test(self):
        self.assertEqual(self.run_hook(ok({"migrated": True}), ok(report()), read_only=True), "Succeeded")
        self.assertEqual(self.payloads()[1], {"muster_self_test": {"smoke": True, "read_only": True}})

    def test_a_failed_check_fails_the_deployment_naming_it(self):
        bad = report(passed=9, failed=1, checks=[
            {"name": "create a candidate", "operation": "POST /v1/candidates", "outcome": "fail",
             "status": 500, "reason": "expected 201, got 500 (request e2e-1)"}])
        self.assertEqual(self.run_hook(ok({"migrated": True}), ok(bad)), "Failed")
        self.assertIn("create a candidate (POST /v1/candidates): expected 201, got 500", self.reason())

    def test_an_interrupted_run_fails(self):
        self.assertEqual(self.run_hook(ok({"migrated": True}), ok(report(interrupted=True))), "Failed")
        self.assertIn("interrupted", self.reason())

    def test_a_run_that_passed_nothing_fails(self):
        self.assertEqual(self.run_hook(ok({"migrated": True}), ok(report(passed=0, skipped=10))), "Failed")
        self.assertIn("passed no check", self.reason())

    def test_a_migration_error_fails_before_any_smoke_test(self):
        status = self.run_hook(function_error("migration 20261201 failed: column exists"))
        self.assertEqual(status, "Failed")
        self.assertEqual(len(self.lam.calls), 1)  # no self-test against a half-migrated schema
        self.assertIn("MigrateError: migration 20261201 failed", self.reason())

    def test_a_migration_that_does_not_say_migrated_fails(self):
        for answer in ({"migrated": False}, {"migrated": "yes"}, {}, [], None, "migrated"):
            with self.subTest(answer=answer):
                self.assertEqual(self.run_hook(ok(answer)), "Failed")
                self.assertEqual(len(self.lam.calls), 1)

    def test_a_function_error_in_the_self_test_fails(self):
        # e.g. the version cannot start at all: a zip for the wrong architecture
        answer = function_error("exec format error", kind="Unhandled")
        answer["Payload"] = io.BytesIO(b'{"errorType":"Runtime.InvalidEntrypoint","errorMessage":"exec format error"}')
        self.assertEqual(self.run_hook(ok({"migrated": True}), answer), "Failed")
        self.assertIn("Runtime.InvalidEntrypoint", self.reason())

    def test_a_function_error_with_a_payload_that_is_not_json_fails(self):
        answer = {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(b"Task timed out")}
        self.assertEqual(self.run_hook(answer), "Failed")
        self.assertIn("Task timed out", self.reason())

    def test_an_exception_from_invoke_fails(self):
        self.assertEqual(self.run_hook(TimeoutError("read timed out")), "Failed")
        self.assertIn("TimeoutError: read timed out", self.reason())

    def test_an_unexpected_invoke_status_fails(self):
        self.assertEqual(self.run_hook({"StatusCode": 202, "Payload": io.BytesIO(b"")}), "Failed")

    def test_malformed_reports_fail(self):
        malformed = {
            "not json": b"<html>502 Bad Gateway</html>",
            "empty": b"",
            "a list": [report()],
            "null": None,
            "no failed count": {k: v for k, v in report().items() if k != "failed"},
            "failed is a bool": report(failed=False),
            "failed is a string": report(failed="0"),
            "negative count": report(failed=-1),
            "no interrupted": {k: v for k, v in report().items() if k != "interrupted"},
            "interrupted is a string": report(interrupted="false"),
            "no checks": {k: v for k, v in report().items() if k != "checks"},
        }
        for name, payload in malformed.items():
            with self.subTest(name):
                self.assertEqual(self.run_hook(ok({"migrated": True}), ok(payload)), "Failed")

    def test_no_version_arn_fails_without_invoking(self):
        self.assertEqual(self.run_hook(arn=""), "Failed")
        self.assertEqual(self.lam.calls, [])
        self.assertIn("NEW_VERSION_ARN", self.reason())


class HandlerWiringTest(unittest.TestCase):
    """handler() reads the template's environment and builds the two clients (boto3 faked)."""

    def test_handler_passes_the_environment_and_clients_to_run(self):
        clients = {"lambda": FakeLambda(ok({"migrated": True}), ok(report())), "codedeploy": FakeCodeDeploy()}
        configs = []

        def client(name, config=None):
            if name == "lambda":
                configs.append(config)
            return clients[name]

        boto3 = types.SimpleNamespace(client=client)
        config_mod = types.SimpleNamespace(Config=lambda **kw: kw)
        env = {"NEW_VERSION_ARN": ARN, "SELF_TEST_READ_ONLY": "true", "INVOKE_TIMEOUT_SECONDS": "300"}
        with mock.patch.dict(sys.modules, {"boto3": boto3, "botocore": types.ModuleType("botocore"),
                                           "botocore.config": config_mod}), \
                mock.patch.dict(os.environ, env), contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(pre_traffic.handler(EVENT, None), "Succeeded")
        # the hook's log lines are JSON, one per step and the verdict
        self.assertEqual([json.loads(line).get("step", json.loads(line).get("result"))
                          for line in out.getvalue().splitlines()], ["migrate", "self_test", "Succeeded"])
        self.assertEqual(clients["lambda"].calls[0]["FunctionName"], ARN)
        self.assertEqual(json.loads(clients["lambda"].calls[1]["Payload"]),
                         {"muster_self_test": {"smoke": True, "read_only": True}})
        # the invoke waits out the function's own timeout and is never retried
        self.assertEqual(configs[0]["read_timeout"], 310)
        self.assertEqual(configs[0]["retries"], {"total_max_attempts": 1})
        self.assertEqual(clients["codedeploy"].calls[0]["status"], "Succeeded")


if __name__ == "__main__":
    unittest.main()
