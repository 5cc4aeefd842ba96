"""CodeDeploy pre-traffic hook for Muster on Lambda (deploy/aws/template.yaml).

CodeDeploy calls this after SAM published a new version of the Muster function and before the
alias `live` moves any traffic to it. The hook invokes that version directly, twice:

1. ``{"muster_migrate": true}``: the version applies its migrations (``{"migrated": true}``).
   Migrations only add, so the version still serving keeps working on the migrated schema;
   and they run here, once per deploy, never on a cold start.
2. ``{"muster_self_test": {"smoke": true, "read_only": ...}}``: the version runs the E2E
   smoke suite (docs/e2e.md) against its own router and returns the suite's JSON report.

It reports Succeeded to CodeDeploy only when the migration said so and the report shows no
failed check, was not interrupted and passed at least one check; anything else, including an
exception anywhere, reports Failed, and CodeDeploy stops the deployment with no traffic moved.

The logic takes its two clients as arguments so test_pre_traffic.py runs it with fakes; only
``handler`` builds real boto3 clients (boto3 comes with the python3.12 runtime).
"""

import json
import os

MIGRATE = {"muster_migrate": True}


class HookFailure(Exception):
    """A reason to fail the deployment, in one sentence for the hook's log."""


def self_test_payload(read_only):
    return {"muster_self_test": {"smoke": True, "read_only": read_only}}


def invoke(lambda_client, function_arn, payload):
    """Invokes one version synchronously and returns its decoded JSON answer."""
    resp = lambda_client.invoke(
        FunctionName=function_arn,
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    raw = resp.get("Payload")
    body = raw.read() if hasattr(raw, "read") else (raw or b"")
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if resp.get("FunctionError"):
        # the runtime's error object: {"errorType", "errorMessage"}; keep the message short
        try:
            err = json.loads(body)
            detail = f"{err.get('errorType', 'Error')}: {err.get('errorMessage', '')}"
        except (ValueError, AttributeError):
            detail = body[:500]
        raise HookFailure(f"{resp['FunctionError']} error from {function_arn}: {detail[:500]}")
    status = resp.get("StatusCode")
    if status != 200:
        raise HookFailure(f"invoking {function_arn} answered status {status}")
    try:
        return json.loads(body)
    except ValueError:
        raise HookFailure(f"{function_arn} answered something that is not JSON: {body[:200]!r}") from None


def check_migration(answer):
    if not isinstance(answer, dict) or answer.get("migrated") is not True:
        raise HookFailure(f"migration did not report success: {json.dumps(answer)[:300]}")


def is_count(v):
    # bool is an int in Python; a report saying "failed": false is malformed, not zero
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_report(report):
    """Raises HookFailure unless the smoke report is well formed and clean; returns a summary."""
    if not isinstance(report, dict):
        raise HookFailure(f"the self-test answered no report: {json.dumps(report)[:300]}")
    for key in ("passed", "failed", "skipped"):
        if not is_count(report.get(key)):
            raise HookFailure(f"the self-test report has no count {key!r}: {json.dumps(report)[:300]}")
    if not isinstance(report.get("interrupted"), bool):
        raise HookFailure("the self-test report does not say whether it was interrupted")
    checks = report.get("checks")
    if not isinstance(checks, list):
        raise HookFailure("the self-test report has no list of checks")
    summary = (f"{report['passed']} passed, {report['failed']} failed, {report['skipped']} skipped"
               f" (run {report.get('run_id')}, build {report.get('build')})")
    if report["interrupted"]:
        raise HookFailure(f"the self-test was interrupted: {summary}")
    if report["failed"] != 0:
        failed = [c for c in checks if isinstance(c, dict) and c.get("outcome") == "fail"]
        names = "; ".join(f"{c.get('name')} ({c.get('operation')}): {c.get('reason')}" for c in failed[:5])
        raise HookFailure(f"the self-test failed: {summary}: {names}")
    if report["passed"] == 0:
        raise HookFailure(f"the self-test passed no check: {summary}")
    return summary


def run(event, lambda_client, codedeploy_client, function_arn, read_only=False, log=print):
    """The hook: migrate, smoke-test, report. Returns the status sent to CodeDeploy."""
    deployment_id = event["DeploymentId"]
    execution_id = event["LifecycleEventHookExecutionId"]
    status = "Failed"
    try:
        if not function_arn:
            raise HookFailure("NEW_VERSION_ARN is not set")
        log(json.dumps({"hook": "pre_traffic", "step": "migrate", "version": function_arn,
                        "deployment_id": deployment_id}))
        check_migration(invoke(lambda_client, function_arn, MIGRATE))
        log(json.dumps({"hook": "pre_traffic", "step": "self_test", "version": function_arn,
                        "read_only": read_only}))
        summary = check_report(invoke(lambda_client, function_arn, self_test_payload(read_only)))
        log(json.dumps({"hook": "pre_traffic", "result": "Succeeded", "self_test": summary}))
        status = "Succeeded"
    except Exception as e:  # anything at all fails the deployment rather than the hook
        log(json.dumps({"hook": "pre_traffic", "result": "Failed", "version": function_arn,
                        "reason": f"{type(e).__name__}: {e}"[:1000]}))
    codedeploy_client.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id,
        lifecycleEventHookExecutionId=execution_id,
        status=status,
    )
    return status


def handler(event, context):
    import boto3
    from botocore.config import Config

    # wait as long as the function may run (a long migration), and never retry an invocation:
    # a migrate retried after a read timeout would run beside the first one
    timeout = int(os.environ.get("INVOKE_TIMEOUT_SECONDS", "120")) + 10
    config = Config(read_timeout=timeout, connect_timeout=10, retries={"total_max_attempts": 1})
    return run(
        event,
        boto3.client("lambda", config=config),
        boto3.client("codedeploy"),
        os.environ.get("NEW_VERSION_ARN", ""),
        read_only=os.environ.get("SELF_TEST_READ_ONLY", "false") == "true",
    )
