"""template.yaml and deploy/publishing-destination.yaml, deployed into moto's CloudFormation.

For each installation mode the test runs the SAM translator on template.yaml (tests/stack/
transform.py, in the SAM CLI's virtualenv), creates the stack in a moto server it starts itself,
and asserts the wiring from the resources moto created: the bucket's trigger, the rules' targets,
the event source mapping, the queues, the topics and their key, the key policies and the
function role's policies, statement by statement. The per-Region publishing destination template
gets its own stacks, against the central stack's bucket and key.

moto 5.2.5 has no CloudFormation model for some resource types (it warns and skips them) and
ignores some properties of the types it has. The test names each of them and checks it instead
from its properties as CloudFormation resolves them with the stack's parameters and the
resources moto created (tests/stack/cfn.py; its evaluation is checked against moto's own, for
the resources created and every Output); where moto has the service API, those properties are
then applied through it and read back. Nothing is skipped: a resource the test has no check
for fails the test.

Run: .venv/bin/python tests/stack/test_stack.py -v   (tests/run does)
"""

import ast
import fnmatch
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.request
import zipfile

# The test talks to its own moto server only: no AWS configuration of the machine applies.
for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
    os.environ.pop(var, None)
os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import cfn  # noqa: E402

try:
    import boto3
    from botocore.config import Config
except ImportError:  # pragma: no cover
    sys.exit(
        "tests/stack: boto3 is missing: run this test with the test virtualenv's Python "
        "(.venv/bin/python; tests/run installs it from tests/requirements.txt)"
    )

ACCOUNT = "123456789012"  # moto's account
OTHER_ACCOUNT = "111122223333"  # the log-archive account of the cross-account mode
CODE_BUCKET = "guardduty-alerts-artifacts"
CODE_KEY = "guardduty-alerts/function.zip"
DETECTOR = "0123456789abcdef0123456789abcdef"
GUARDDUTY = "guardduty.amazonaws.com"

# The Regions that are not opt-in: every commercial Region launched before 20 March 2019.
CLASSIC_REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "ap-northeast-1",
    "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
]
OPT_IN_REGIONS = [
    "af-south-1", "ap-east-1", "me-south-1", "eu-south-1", "ap-southeast-3", "me-central-1",
    "ap-south-2", "eu-central-2", "eu-south-2", "ap-southeast-4", "il-central-1", "ca-west-1",
    "ap-southeast-5", "mx-central-1", "ap-southeast-7", "ap-east-2",
]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def tool(path, how):
    if not os.path.exists(path):
        raise RuntimeError(f"tests/stack: {path} is missing: {how}")
    return path


VENV = os.environ.get("GUARDDUTY_ALERTS_VENV") or os.path.join(ROOT, ".venv")
SAM_VENV = os.environ.get("GUARDDUTY_ALERTS_SAM_VENV") or os.path.join(ROOT, ".venv-sam")
INSTALL_HINT = "tests/run installs it ({} from {})"


# ------------------------------------------------------------------------------- the cases
# name -> Region and parameters. Every mode, the opt-in choice, bring-your-own topics, the
# health check on and off, and the optional parts (lifecycle, logging, e-mails, webhooks, rules).
CASES = {
    "new-bucket-defaults": dict(region="eu-west-1", parameters={}),
    "new-bucket-central": dict(
        region="us-east-1",
        parameters={
            "DetectorId": DETECTOR,
            "ExportPrefix": "guardduty/",
            "OptInSourceRegions": "af-south-1,me-south-1",
            "ExportRetentionDays": "365",
            "ExportTransitionDays": "90",
            "NoncurrentVersionExpirationDays": "7",
            "AccessLogBucketName": "central-access-logs",
            "AlertEmail": "security@example.com",
            "AlarmEmail": "ops@example.com",
            "HealthCheckIntervalHours": "6",
            "HealthCheckRegions": "us-east-1,eu-west-1,af-south-1,me-south-1",
            "MaxExportAgeHours": "48",
            "DeadMansSwitchHours": "12",
            "WebhookSecretArn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:gda/webhooks-AbCdEf",
            "WebhookSecretKmsKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        },
    ),
    "new-bucket-opt-in": dict(region="af-south-1", parameters={"ExportBucketName": "gda-cape-town-exports"}),
    "existing-bucket": dict(
        region="us-east-1",
        parameters={
            "InstallMode": "existing-bucket",
            "ExistingBucketName": "org-guardduty-exports",
            "ExistingKmsKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/22222222-3333-4444-5555-666666666666",
            "ExportPrefix": "findings/",
            "AlarmTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops-alarms",
            "HealthCheckIntervalHours": "0",
            "DeadMansSwitchHours": "24",
            "DedupTable": "off",
            "RulesSsmParameter": "/guardduty-alerts/rules",
            "RulesSnsTopicArns": f"arn:aws:sns:us-east-1:{ACCOUNT}:team-a,arn:aws:sns:us-east-1:{ACCOUNT}:team-b",
        },
    ),
    "cross-account-sqs": dict(
        region="us-east-1",
        parameters={
            "InstallMode": "cross-account-sqs",
            "ExistingBucketName": "log-archive-guardduty",
            "ExistingKmsKeyArn": f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:key/33333333-4444-5555-6666-777777777777",
            "ExistingBucketAccountId": OTHER_ACCOUNT,
            "SqsBatchSize": "25",
            "SqsMaximumBatchingWindowSeconds": "5",
            "AlertTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:security-alerts",
            "AlarmTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops-alarms",
            "HealthCheckRegions": "us-east-1,us-west-2",
            "MaxExportAgeHours": "24",
            "RulesS3Uri": "s3://config-bucket/guardduty-alerts/rules.toml",
            "RulesSecretArns": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:gda/pagerduty-XyZ123",
            "FindingEvents": "on",
            "BatchOperationsBucket": "org-guardduty-replays",
        },
    ),
    # Only transformed and evaluated: moto's CloudFormation knows one partition ("aws").
    "china": dict(region="cn-north-1", parameters={"OptInSourceRegions": "", "WebhookSecretArn":
                  f"arn:aws-cn:secretsmanager:cn-north-1:{ACCOUNT}:secret:w-AbCdEf",
                  "WebhookSecretKmsKeyArn": f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/k"}),
    "govcloud": dict(region="us-gov-west-1", parameters={"MaxExportAgeHours": "6"}),
}
PARTITIONS = {"cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"}

# What moto cannot create, and how each is checked instead (printed, and asserted: every
# resource of these types in a case must have been checked by that case).
NOT_CREATED = {
    "AWS::CloudWatch::Alarm": "resolved properties; created through moto's CloudWatch API and read back: AlarmActions and OKActions are the alarm topic, whose KMS key (created in moto) lets cloudwatch.amazonaws.com use it",
    "AWS::S3::BucketPolicy": "resolved policy checked statement by statement, then set through moto's S3 API and read back",
    "AWS::SQS::QueuePolicy": "resolved policy checked, then set on the queue moto created and read back",
    "AWS::SNS::TopicPolicy": "resolved policy checked, then set on the topic moto created and read back",
    "AWS::SNS::Subscription": "resolved properties; subscribed through moto's SNS API and read back",
    "AWS::Lambda::EventInvokeConfig": "resolved properties; put through moto's Lambda API and read back (retries, failure queue)",
    "AWS::GuardDuty::PublishingDestination": "resolved properties (detector, central bucket ARN and key created in moto); the central key and bucket policies are checked to accept that detector's Region and principal",
}
IGNORED_PROPERTIES = {
    "AWS::IAM::Role": "moto keeps the inline policies as objects and GetRolePolicy returns their Python repr, with a null for every statement an Fn::If dropped with AWS::NoValue: the test parses that and skips the nulls",
    "AWS::KMS::Key": "moto keeps the KeyPolicy as an object, so its DescribeKey fails on such a key: the test reads the key's ARN from ListKeys and its policy from GetKeyPolicy",
    "AWS::S3::Bucket": "moto creates the bucket with its BucketEncryption's algorithm and key (read back) but ignores BucketKeyEnabled, NotificationConfiguration, LifecycleConfiguration, LoggingConfiguration, VersioningConfiguration, PublicAccessBlockConfiguration and OwnershipControls: checked as resolved properties against the function moto created",
}

OTHER_MOTO_LIMITS = [
    "moto evaluates the Export of every Output, even one whose Condition is false, and fails on the resource rightly not created: the test leaves those Outputs out of the template it gives moto, as CloudFormation does, and checks the others against its own evaluation",
    "moto cannot evaluate an Output of a resource it skipped (deploy/publishing-destination.yaml's PublishingDestinationId): left out of that stack and checked as data",
    "moto's CloudFormation knows one partition (AWS::Partition is always aws): the China and GovCloud cases are transformed and evaluated without moto",
]


# ----------------------------------------------------------------------------- the harness
class Moto:
    def __init__(self):
        moto_server = tool(os.path.join(VENV, "bin", "moto_server"),
                           INSTALL_HINT.format(".venv", "tests/requirements.txt"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(os.path.join(ROOT, "target", "stack-test-moto.log"), "w")
        self.proc = subprocess.Popen(
            [moto_server, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"moto_server did not start (log: {self.log.name})")
                time.sleep(0.05)

    def client(self, service, region):
        return boto3.client(
            service, region_name=region, endpoint_url=self.url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


MOTO = None
TRANSFORMED = None
CHECKED_TYPES = {}
STARTED = time.time()


def setUpModule():
    global MOTO, TRANSFORMED
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    sam_python = tool(os.path.join(SAM_VENV, "bin", "python"),
                      INSTALL_HINT.format(".venv-sam", "tests/requirements-sam.txt"))
    MOTO = Moto()
    request = {
        "cases": [
            dict(name=n, region=c["region"], parameters=c["parameters"],
                 code={"bucket": CODE_BUCKET, "key": CODE_KEY})
            for n, c in CASES.items()
        ],
        "plain": ["deploy/publishing-destination.yaml"],
    }
    t = time.time()
    done = subprocess.run(
        [sam_python, os.path.join(HERE, "transform.py")], input=json.dumps(request),
        capture_output=True, text=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the SAM translator failed:\n{done.stderr}")
    TRANSFORMED = json.loads(done.stdout)
    print(f"\nSAM translator: {len(CASES)} cases in {time.time() - t:.1f} s", file=sys.stderr)


def tearDownModule():
    if MOTO:
        MOTO.stop()
    print("", file=sys.stderr)
    for typ, how in NOT_CREATED.items():
        cases = CHECKED_TYPES.get(typ)
        if cases:
            print(f"moto cannot create {typ} (in {', '.join(sorted(cases))}): checked instead: {how}",
                  file=sys.stderr)
    for typ, how in IGNORED_PROPERTIES.items():
        print(f"moto creates {typ} partly: {how}", file=sys.stderr)
    for how in OTHER_MOTO_LIMITS:
        print(f"moto: {how}", file=sys.stderr)
    print(f"tests/stack: {time.time() - STARTED:.1f} s", file=sys.stderr)


def key_policy(st, logical):
    """A key's policy, as moto stored it (an object for a key made from a template)."""
    return statements(st.c["kms"].get_key_policy(KeyId=st.physical(logical), PolicyName="default")["Policy"])


def statements(policy, moto_nulls=False):
    """Sid -> statement, from a policy document (dict or JSON string)."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            # moto keeps a template's inline role policy as an object and returns its Python
            # repr (see IGNORED_PROPERTIES).
            policy = ast.literal_eval(policy)
    out = {}
    for s in policy["Statement"]:
        if s is None and moto_nulls:
            # moto resolves an Fn::If to AWS::NoValue inside a list as null, where CloudFormation
            # drops the element (see IGNORED_PROPERTIES): only a role policy read from moto has them.
            continue
        assert s.get("Sid"), f"a statement without Sid: {s}"
        assert s["Sid"] not in out, f"two statements {s['Sid']}"
        out[s["Sid"]] = s
    return out


def as_list(x):
    return sorted(x) if isinstance(x, list) else [x]


def all_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for x in node:
            yield from all_strings(x)
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from all_strings(v)


class Stack:
    """A stack created in moto from a transformed template, and what it made."""

    def __init__(self, test, name, template, parameters, region, unresolvable_outputs=()):
        self.test, self.name, self.region = test, name, region
        self.partition = "aws"
        self.c = {s: MOTO.client(s, region) for s in (
            "cloudformation", "s3", "kms", "iam", "lambda", "sqs", "sns", "events",
            "dynamodb", "cloudwatch")}
        self.template = template
        self.ev = cfn.Evaluator(template, parameters, region=region, account=ACCOUNT,
                                stack_name=name, ref=self.ref, getatt=self.getatt)
        # moto 5.2.5 evaluates the Export of every Output, even one whose Condition is false
        # (moto/cloudformation/parsing.py, OutputMap.exports), and then fails on a resource that
        # was rightly not created. CloudFormation leaves such Outputs out; so does the test.
        body = json.loads(json.dumps(template))
        # Outputs of a resource moto skipped cannot be evaluated by moto either: the caller names
        # them and checks them as data.
        body["Outputs"] = {k: v for k, v in body.get("Outputs", {}).items()
                           if self.ev.output_exists(k) and k not in unresolvable_outputs}
        t = time.time()
        self.c["cloudformation"].create_stack(
            StackName=name, TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        while True:
            stack = self.c["cloudformation"].describe_stacks(StackName=name)["Stacks"][0]
            if not stack["StackStatus"].endswith("_IN_PROGRESS"):
                break
            time.sleep(0.1)
        test.assertEqual(stack["StackStatus"], "CREATE_COMPLETE", stack.get("StackStatusReason"))
        self.seconds = time.time() - t
        self.outputs = {o["OutputKey"]: o for o in stack.get("Outputs", [])}
        self.resources = {}
        for r in self.c["cloudformation"].list_stack_resources(StackName=name)["StackResourceSummaries"]:
            if r["LogicalResourceId"]:  # moto lists the types it skipped without a name
                self.resources[r["LogicalResourceId"]] = (r["ResourceType"], r["PhysicalResourceId"])
        self.checked = set()
        self._attr_cache = {}

    # -- resolution against what moto created
    def physical(self, logical):
        if logical not in self.resources:
            raise cfn.Unresolvable(f"{logical} was not created by moto")
        return self.resources[logical][1]

    def ref(self, logical):
        return self.physical(logical)

    def getatt(self, logical, attr):
        key = (logical, attr)
        if key not in self._attr_cache:
            self._attr_cache[key] = self._getatt(logical, attr)
        return self._attr_cache[key]

    def _getatt(self, logical, attr):
        typ, phys = self.resources.get(logical, (None, None))
        if typ is None:
            raise cfn.Unresolvable(f"GetAtt {logical}.{attr}: not created by moto")
        if typ == "AWS::Lambda::Function" and attr == "Arn":
            return self.c["lambda"].get_function(FunctionName=phys)["Configuration"]["FunctionArn"]
        if typ == "AWS::SQS::Queue" and attr == "Arn":
            return self.c["sqs"].get_queue_attributes(QueueUrl=phys, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if typ == "AWS::SQS::Queue" and attr == "QueueName":
            return phys.rsplit("/", 1)[1]
        if typ == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:{self.partition}:s3:::{phys}"
        if typ == "AWS::KMS::Key" and attr == "Arn":
            # Not DescribeKey: moto keeps a template's KeyPolicy as an object, on which its
            # DescribeKey fails (see IGNORED_PROPERTIES).
            keys = self.c["kms"].list_keys()["Keys"]
            return next(k["KeyArn"] for k in keys if k["KeyId"] == phys)
        if typ == "AWS::IAM::Role" and attr == "Arn":
            return self.c["iam"].get_role(RoleName=phys)["Role"]["Arn"]
        if typ == "AWS::DynamoDB::Table" and attr == "Arn":
            return self.c["dynamodb"].describe_table(TableName=phys)["Table"]["TableArn"]
        if typ == "AWS::Events::Rule" and attr == "Arn":
            return self.c["events"].describe_rule(Name=phys)["Arn"]
        raise cfn.Unresolvable(f"GetAtt {logical}.{attr} ({typ}): not implemented by the test")

    def arn(self, logical):
        return self.getatt(logical, "Arn")

    def props(self, logical):
        self.checked.add(logical)
        return self.ev.properties(logical)

    # -- the whole-stack checks every case runs
    def check_created_as_evaluated(self):
        """moto created exactly the resources whose condition holds, of the types it models."""
        expected = set(self.ev.created())
        created = set(self.resources)
        self.test.assertTrue(created <= expected, f"created but condition false: {created - expected}")
        missing = expected - created
        for logical in missing:
            typ = self.template["Resources"][logical]["Type"]
            self.test.assertIn(typ, NOT_CREATED, f"{logical} ({typ}) was not created by moto and has no check")
        return missing

    def check_outputs(self):
        """Every Output moto produced equals the evaluator's value, and is described and exported."""
        self.test.assertEqual(set(self.outputs), {k for k in self.template["Outputs"] if self.ev.output_exists(k)})
        exports = {e["Name"]: e["Value"] for e in self.c["cloudformation"].list_exports()["Exports"]}
        for key, out in self.outputs.items():
            spec = self.template["Outputs"][key]
            self.test.assertEqual(out["OutputValue"], str(self.ev.resolve(spec["Value"])), key)
            self.test.assertTrue(spec.get("Description"), f"Output {key} has no Description")
            self.test.assertEqual(exports.get(f"{self.name}-{key}"), out["OutputValue"], f"Output {key} is not exported as {self.name}-{key}")

    def finish(self, missing):
        """Every resource moto could not create was checked by the case."""
        unchecked = {m for m in missing if m not in self.checked}
        self.test.assertFalse(unchecked, f"resources moto did not create and the test did not check: {unchecked}")
        for m in missing:
            CHECKED_TYPES.setdefault(self.template["Resources"][m]["Type"], set()).add(self.name)


class TemplateStackTest(unittest.TestCase):
    maxDiff = None

    # ------------------------------------------------------------------------- helpers
    def created(self, case, absent=()):
        """The case's stack, the resources moto did not create, and the case's parameters; the
        resources named in `absent` must not be in it (their Condition is false in this mode)."""
        st = self.stack(case)
        missing = st.check_created_as_evaluated()
        for logical in absent:
            self.assertNotIn(logical, st.resources)
        return st, missing, CASES[case]["parameters"]

    def stack(self, case):
        """The case's stack, created in moto, with the function's code where the transform said."""
        c = CASES[case]
        region = c["region"]
        code_bucket = f"{CODE_BUCKET}-{case}"  # Lambda reads code from its own Region
        s3 = MOTO.client("s3", region)
        s3.create_bucket(Bucket=code_bucket, **({} if region == "us-east-1" else
                         {"CreateBucketConfiguration": {"LocationConstraint": region}}))
        body = io.BytesIO()
        with zipfile.ZipFile(body, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        s3.put_object(Bucket=code_bucket, Key=CODE_KEY, Body=body.getvalue())
        template = json.loads(json.dumps(TRANSFORMED["transformed"][case]).replace(
            f'"{CODE_BUCKET}"', f'"{code_bucket}"'))
        self.assertEqual(template["Resources"]["Function"]["Properties"]["Code"],
                         {"S3Bucket": code_bucket, "S3Key": CODE_KEY})
        return Stack(self, case, template, c["parameters"], region)

    def function_config(self, st):
        return st.c["lambda"].get_function(FunctionName=st.physical("Function"))["Configuration"]

    def role_statements(self, st):
        iam = st.c["iam"]
        role = st.physical("FunctionRole")
        self.assertEqual(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], [],
                         "the role has a managed policy")
        names = iam.list_role_policies(RoleName=role)["PolicyNames"]
        self.assertEqual(names, ["guardduty-alerts"])
        doc = iam.get_role_policy(RoleName=role, PolicyName="guardduty-alerts")["PolicyDocument"]
        trust = self.trust_policy(iam, role)
        self.assertEqual([s["Principal"] for s in trust["Statement"]], [{"Service": "lambda.amazonaws.com"}])
        return statements(doc, moto_nulls=True)

    def trust_policy(self, iam, role):
        """A role's trust policy as moto gives it back: JSON, or the Python repr of an object."""
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        if isinstance(trust, str):
            try:
                trust = json.loads(trust)
            except ValueError:
                trust = ast.literal_eval(trust)
        return trust

    def assert_statements(self, actual, expected):
        """Each statement exactly as expected: actions, resources, conditions; no wildcard action;
        no "*" resource but where AWS allows no other."""
        self.assertEqual(sorted(actual), sorted(expected), "the role's statements")
        for sid, want in expected.items():
            got = actual[sid]
            self.assertEqual(got["Effect"], "Allow", sid)
            self.assertEqual(as_list(got["Action"]), sorted(want["Action"]), f"{sid} actions")
            self.assertEqual(as_list(got["Resource"]), sorted(want["Resource"]), f"{sid} resources")
            self.assertEqual(got.get("Condition"), want.get("Condition"), f"{sid} condition")
            for a in as_list(got["Action"]):
                self.assertNotIn("*", a, f"{sid}: wildcard action {a}")
            if as_list(got["Resource"]) == ["*"]:
                self.assertEqual(as_list(got["Action"]), ["guardduty:ListDetectors"],
                                 f"{sid}: Resource * (only ListDetectors has no resource-level permission)")

    def via(self, service, region, partition="aws"):
        if partition == "aws-cn":
            return {"StringEquals": {"kms:ViaService": [f"{service}.{region}.amazonaws.com", f"{service}.{region}.amazonaws.com.cn"]}}
        return {"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com"}}

    def common_statements(self, st, *, bucket, key_arn, prefix=""):
        r = st.region
        alert_topic = (st.physical("AlertTopic") if "AlertTopic" in st.resources
                       else CASES[st.name]["parameters"]["AlertTopicArn"])
        log_group = st.physical("LogGroup")
        want = {
            "WriteLogs": {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                          "Resource": [f"arn:aws:logs:{r}:{ACCOUNT}:log-group:{log_group}:*"]},
            "ReadExports": {"Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{bucket}/{prefix}AWSLogs/*"]},
            "DecryptExportsThroughS3": {"Action": ["kms:Decrypt"], "Resource": [key_arn], "Condition": self.via("s3", r)},
            "PublishAlerts": {"Action": ["sns:Publish"], "Resource": [alert_topic]},
            "SendFailures": {"Action": ["sqs:SendMessage"], "Resource": [st.arn("FailureQueue")]},
        }
        if "AlertTopic" in st.resources:
            want["EncryptAlertsThroughSns"] = {"Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                                               "Resource": [st.arn("TopicKey")], "Condition": self.via("sns", r)}
        if "DedupStateTable" in st.resources:
            want["DedupState"] = {"Action": ["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
                                             "dynamodb:PutItem", "dynamodb:UpdateItem"],
                                  "Resource": [st.arn("DedupStateTable")]}
        return want

    def health_statements(self, st, *, bucket=None, prefix=""):
        want = {
            "HealthCheckListsDetectors": {"Action": ["guardduty:ListDetectors"], "Resource": ["*"]},
            "HealthCheckReadsPublishingDestinations": {
                "Action": ["guardduty:DescribePublishingDestination", "guardduty:ListPublishingDestinations"],
                "Resource": [f"arn:aws:guardduty:*:{ACCOUNT}:detector/*"]},
        }
        if bucket:
            want["HealthCheckListsExports"] = {"Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"],
                                               "Condition": {"StringLike": {"s3:prefix": f"{prefix}AWSLogs/*"}}}
        return want

    def check_topics_and_alarms(self, st, *, alarm_topic_given=None, alerts_given=False):
        """Every alarm notifies, on alarm and on OK, a topic CloudWatch can publish to."""
        sns, kms, cw = st.c["sns"], st.c["kms"], st.c["cloudwatch"]
        if alarm_topic_given:
            self.assertNotIn("AlarmTopic", st.resources)
            alarm_topic = alarm_topic_given
        else:
            alarm_topic = st.physical("AlarmTopic")
        if alarm_topic_given and alerts_given:
            self.assertNotIn("TopicKey", st.resources, "no topic created, no key")
        else:
            key_arn = st.arn("TopicKey")
            policy = key_policy(st, "TopicKey")
            self.assertEqual(sorted(policy), ["AccountAdministersTheKeyAndIamPoliciesGrantUse", "CloudWatchAlarmsPublishToTheTopics"])
            self.assertEqual(policy["AccountAdministersTheKeyAndIamPoliciesGrantUse"]["Principal"], {"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
            cwst = policy["CloudWatchAlarmsPublishToTheTopics"]
            self.assertEqual(cwst["Principal"], {"Service": "cloudwatch.amazonaws.com"})
            self.assertEqual(sorted(cwst["Action"]), ["kms:Decrypt", "kms:GenerateDataKey*"])
            self.assertEqual(cwst["Condition"], {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{st.region}:{ACCOUNT}:alarm:*"}})
            for topic in ("AlertTopic", "AlarmTopic"):
                if topic in st.resources:
                    attrs = sns.get_topic_attributes(TopicArn=st.physical(topic))["Attributes"]
                    self.assertEqual(attrs.get("KmsMasterKeyId"), key_arn, f"{topic} is not under the stack's key")
        if "AlarmTopic" in st.resources:
            p = st.props("AlarmTopicPolicy")
            self.assertEqual(p["Topics"], [alarm_topic])
            pol = statements(p["PolicyDocument"])
            self.assertEqual(pol, {"CloudWatchAlarmsPublish": {
                "Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                "Resource": alarm_topic,
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                              "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{st.region}:{ACCOUNT}:alarm:*"}}}})
            sns.set_topic_attributes(TopicArn=alarm_topic, AttributeName="Policy", AttributeValue=json.dumps(p["PolicyDocument"]))
            self.assertEqual(statements(sns.get_topic_attributes(TopicArn=alarm_topic)["Attributes"]["Policy"]), pol)
        alarms = [r for r in st.ev.created() if st.template["Resources"][r]["Type"] == "AWS::CloudWatch::Alarm"]
        self.assertIn("FunctionErrorsAlarm", alarms)
        function = st.physical("Function")
        for logical in alarms:
            p = st.props(logical)
            self.assertEqual(p["AlarmActions"], [alarm_topic], f"{logical} AlarmActions")
            self.assertEqual(p["OKActions"], [alarm_topic], f"{logical} OKActions")
            name = f"{st.name}-{logical}"
            cw.put_metric_alarm(
                AlarmName=name, AlarmDescription=p["AlarmDescription"], Namespace=p["Namespace"],
                MetricName=p["MetricName"], Dimensions=p["Dimensions"], Statistic=p["Statistic"],
                Period=int(p["Period"]), EvaluationPeriods=int(p["EvaluationPeriods"]),
                Threshold=float(p["Threshold"]), ComparisonOperator=p["ComparisonOperator"],
                TreatMissingData=p["TreatMissingData"], AlarmActions=p["AlarmActions"], OKActions=p["OKActions"])
            got = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
            self.assertEqual((got["AlarmActions"], got["OKActions"]), ([alarm_topic], [alarm_topic]))
            if p["Namespace"] != "AWS/SQS":
                self.assertEqual(p["Dimensions"], [{"Name": "FunctionName", "Value": function}], logical)
            self.assertNotEqual(alarm_topic, "alias/aws/sns")
        return alarms, alarm_topic

    def check_event_invoke_config(self, st):
        logical = "FunctionEventInvokeConfig"
        p = st.props(logical)
        self.assertEqual(p["FunctionName"], st.physical("Function"))
        self.assertEqual(p["DestinationConfig"], {"OnFailure": {"Destination": st.arn("FailureQueue")}})
        lam = st.c["lambda"]
        lam.put_function_event_invoke_config(
            FunctionName=p["FunctionName"], MaximumRetryAttempts=int(p["MaximumRetryAttempts"]),
            MaximumEventAgeInSeconds=int(p["MaximumEventAgeInSeconds"]), DestinationConfig=p["DestinationConfig"])
        got = lam.get_function_event_invoke_config(FunctionName=p["FunctionName"])
        self.assertEqual((got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]), (2, 21600))
        self.assertEqual(got["DestinationConfig"]["OnFailure"]["Destination"], st.arn("FailureQueue"))

    def check_failure_queue(self, st):
        p = st.props("FailureQueuePolicy")
        url = st.physical("FailureQueue")
        self.assertEqual(p["Queues"], [url])
        pol = statements(p["PolicyDocument"])
        self.assertEqual(pol["EventBridgeDeadLetters"]["Principal"], {"Service": "events.amazonaws.com"})
        self.assertEqual(pol["EventBridgeDeadLetters"]["Resource"], st.arn("FailureQueue"))
        self.assertEqual(pol["EventBridgeDeadLetters"]["Condition"], {"StringEquals": {"aws:SourceAccount": ACCOUNT}})
        self.assertEqual(pol["DenyNonTls"]["Effect"], "Deny")
        st.c["sqs"].set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
        got = st.c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(statements(got["Policy"]), pol)
        self.assertEqual(got["SqsManagedSseEnabled"], "true")

    def function_permission(self, st, principal):
        policy = json.loads(st.c["lambda"].get_policy(FunctionName=st.physical("Function"))["Policy"])
        return [s for s in policy["Statement"] if s["Principal"] == {"Service": principal}]

    def check_health_check(self, st, *, interval, regions, max_age):
        env = self.function_config(st)["Environment"]["Variables"]
        if not interval:
            self.assertNotIn("HealthCheckSchedule", st.resources)
            self.assertNotIn("PublishingDestinationUnhealthyAlarm", st.ev.created())
            self.assertNotIn("HEALTH_CHECK_REGIONS", env)
            self.assertNotIn("HEALTH_MAX_EXPORT_AGE_HOURS", env)
            return
        self.assertEqual(env["HEALTH_CHECK_REGIONS"], regions)
        self.assertEqual(env["HEALTH_MAX_EXPORT_AGE_HOURS"], max_age)
        ev = st.c["events"]
        rule = st.physical("HealthCheckSchedule")
        got = ev.describe_rule(Name=rule)
        self.assertEqual(got["ScheduleExpression"], "rate(1 hour)" if interval == 1 else f"rate({interval} hours)")
        self.assertEqual(got["State"], "ENABLED")
        self.assertNotIn("EventPattern", got)  # the default scheduled event: aws.events / Scheduled Event
        targets = ev.list_targets_by_rule(Rule=rule)["Targets"]
        self.assertEqual([t["Arn"] for t in targets], [st.arn("Function")])
        self.assertFalse(any("Input" in t or "InputPath" in t or "InputTransformer" in t for t in targets),
                         "the schedule must send the default Scheduled Event")
        perms = self.function_permission(st, "events.amazonaws.com")
        self.assertTrue(any(got["Arn"] in json.dumps(p.get("Condition")) for p in perms), perms)
        alarm = st.ev.properties("PublishingDestinationUnhealthyAlarm")
        self.assertEqual((alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]),
                         ("GuardDutyAlerts", "PublishingDestinationsUnhealthy", "Maximum"))
        self.assertEqual(int(alarm["Period"]), interval * 3600)
        self.assertEqual((int(alarm["EvaluationPeriods"]), float(alarm["Threshold"]), alarm["ComparisonOperator"],
                          alarm["TreatMissingData"]), (1, 0.0, "GreaterThanThreshold", "breaching"))
        self.assertEqual(env["METRICS_NAMESPACE"], alarm["Namespace"])

    # ------------------------------------------------------------------------- new-bucket
    def check_new_bucket(self, st, *, bucket, prefix, principals, detector):
        s3, kms = st.c["s3"], st.c["kms"]
        self.assertEqual(st.physical("ExportBucket"), bucket)
        key_arn = st.arn("ExportKey")
        enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        self.assertEqual(enc["ApplyServerSideEncryptionByDefault"], {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn})
        b = st.ev.properties("ExportBucket")
        self.assertEqual(b["BucketEncryption"], {"ServerSideEncryptionConfiguration": [{
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
            "BucketKeyEnabled": True}]})
        # Key policy: GuardDuty of every Region of this account, as each Region's principal.
        source = {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                  "ArnLike": {"aws:SourceArn": f"arn:aws:guardduty:*:{ACCOUNT}:detector/*"}}
        kp = key_policy(st, "ExportKey")
        self.assertEqual(sorted(kp), ["AccountAdministersTheKeyAndIamPoliciesGrantUse", "GuardDutyEncryptsExports"])
        gd = kp["GuardDutyEncryptsExports"]
        self.assertEqual(as_list(gd["Principal"]["Service"]), sorted(principals))
        self.assertEqual(gd["Action"], "kms:GenerateDataKey")
        self.assertEqual(gd["Condition"], source)
        for region in CLASSIC_REGIONS + [st.region]:
            self.assertTrue(fnmatch.fnmatchcase(f"arn:aws:guardduty:{region}:{ACCOUNT}:detector/{DETECTOR}",
                                                source["ArnLike"]["aws:SourceArn"]))
        self.assertFalse(fnmatch.fnmatchcase(f"arn:aws:guardduty:us-east-1:{OTHER_ACCOUNT}:detector/{DETECTOR}",
                                             source["ArnLike"]["aws:SourceArn"]))
        # The bucket policy (moto cannot create it): checked, then applied and read back.
        p = st.props("ExportBucketPolicy")
        self.assertEqual(p["Bucket"], bucket)
        bp = statements(p["PolicyDocument"])
        arn = f"arn:aws:s3:::{bucket}"
        svc = {"Service": principals[0] if len(principals) == 1 else principals}
        self.assertEqual(bp, {
            "DenyNonTlsAccess": {"Sid": "DenyNonTlsAccess", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                 "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            "GuardDutyGetsBucketLocation": {"Sid": "GuardDutyGetsBucketLocation", "Effect": "Allow", "Principal": svc,
                                            "Action": "s3:GetBucketLocation", "Resource": arn, "Condition": source},
            "GuardDutyPutsExports": {"Sid": "GuardDutyPutsExports", "Effect": "Allow", "Principal": svc,
                                     "Action": "s3:PutObject", "Resource": f"{arn}/{prefix}*", "Condition": source},
            "DenyUnencryptedUploads": {"Sid": "DenyUnencryptedUploads", "Effect": "Deny", "Principal": svc,
                                       "Action": "s3:PutObject", "Resource": f"{arn}/*",
                                       "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
            "DenyUploadsWithAnotherKey": {"Sid": "DenyUploadsWithAnotherKey", "Effect": "Deny", "Principal": svc,
                                          "Action": "s3:PutObject", "Resource": f"{arn}/*",
                                          "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}}},
        })
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(p["PolicyDocument"]))
        self.assertEqual(statements(s3.get_bucket_policy(Bucket=bucket)["Policy"]), bp)
        # The bucket's notification: S3 -> the function, for exports only.
        self.assertEqual(b["NotificationConfiguration"], {"LambdaConfigurations": [{
            "Event": "s3:ObjectCreated:*", "Function": st.arn("Function"),
            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": f"{prefix}AWSLogs/"},
                                           {"Name": "suffix", "Value": ".jsonl.gz"}]}}}]})
        self.assertEqual(b["VersioningConfiguration"], {"Status": "Enabled"})
        self.assertEqual(b["PublicAccessBlockConfiguration"], dict.fromkeys(
            ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True))
        self.assertEqual(b["OwnershipControls"], {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        perms = self.function_permission(st, "s3.amazonaws.com")
        self.assertEqual(len(perms), 1)
        self.assertIn(f"arn:aws:s3:::{bucket}", json.dumps(perms[0]["Condition"]))
        self.assertIn(ACCOUNT, json.dumps(perms[0]["Condition"]))
        # This Region's publishing destination, when DetectorId is given.
        if detector:
            p = st.props("PublishingDestination")
            self.assertEqual(p, {"DetectorId": detector, "DestinationType": "S3", "DestinationProperties": {
                "DestinationArn": f"{arn}/{prefix}" if prefix else arn, "KmsKeyArn": key_arn}})
        else:
            self.assertNotIn("PublishingDestination", st.ev.created())
        self.assertEqual(st.outputs["PublishingDestinationArn"]["OutputValue"], f"{arn}/{prefix}" if prefix else arn)
        self.assertEqual(st.outputs["ExportKmsKeyArn"]["OutputValue"], key_arn)
        # Retained on delete, with the key: the README says so.
        for logical in ("ExportBucket", "ExportBucketPolicy", "ExportKey"):
            self.assertEqual(st.template["Resources"][logical].get("DeletionPolicy"), "Retain")
        retained = sorted(r for r, spec in st.template["Resources"].items() if spec.get("DeletionPolicy") == "Retain")
        self.assertEqual(retained, ["ExportBucket", "ExportBucketPolicy", "ExportKey"])
        return b, key_arn

    def test_new_bucket_defaults(self):
        st, missing, _ = self.created("new-bucket-defaults", absent=("FindingEventsRule", "BatchOperationsRole"))
        bucket = f"{ACCOUNT}-eu-west-1-guardduty-exports"
        b, key_arn = self.check_new_bucket(st, bucket=bucket, prefix="", principals=[GUARDDUTY], detector=None)
        self.assertEqual(b["LifecycleConfiguration"], {"Rules": [{
            "Id": "guardduty-exports", "Status": "Enabled", "Prefix": "AWSLogs/",
            "NoncurrentVersionExpiration": {"NoncurrentDays": "30"},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
        self.assertNotIn("LoggingConfiguration", b)
        want = self.common_statements(st, bucket=bucket, key_arn=key_arn)
        want.update(self.health_statements(st))
        self.assert_statements(self.role_statements(st), want)
        alarms, _ = self.check_topics_and_alarms(st)
        self.assertEqual(sorted(alarms), ["FailureQueueAlarm", "FunctionErrorsAlarm", "PublishingDestinationUnhealthyAlarm"])
        self.check_health_check(st, interval=1, regions="", max_age="0")
        for sub in ("AlertEmailSubscription", "AlarmEmailSubscription"):
            self.assertNotIn(sub, st.ev.created())
        self.check_event_invoke_config(st)
        self.check_failure_queue(st)
        env = self.function_config(st)["Environment"]["Variables"]
        self.assertEqual(env["SNS_TOPIC_ARN"], st.physical("AlertTopic"))
        self.assertEqual(env["DEDUP_TABLE"], st.physical("DedupStateTable"))
        st.check_outputs()
        st.finish(missing)

    def test_new_bucket_central_bucket_for_every_region(self):
        st, missing, params = self.created("new-bucket-central")
        bucket = f"{ACCOUNT}-us-east-1-guardduty-exports"
        principals = [GUARDDUTY, "guardduty.af-south-1.amazonaws.com", "guardduty.me-south-1.amazonaws.com"]
        b, key_arn = self.check_new_bucket(st, bucket=bucket, prefix="guardduty/", principals=principals, detector=DETECTOR)
        self.assertEqual(b["LifecycleConfiguration"], {"Rules": [{
            "Id": "guardduty-exports", "Status": "Enabled", "Prefix": "guardduty/AWSLogs/", "ExpirationInDays": "365",
            "Transitions": [{"StorageClass": "GLACIER_IR", "TransitionInDays": "90"}],
            "NoncurrentVersionExpiration": {"NoncurrentDays": "7"},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
        self.assertEqual(b["LoggingConfiguration"], {"DestinationBucketName": "central-access-logs", "LogFilePrefix": f"{bucket}/"})
        want = self.common_statements(st, bucket=bucket, key_arn=key_arn, prefix="guardduty/")
        want.update(self.health_statements(st, bucket=bucket, prefix="guardduty/"))
        want["ReadWebhookSecret"] = {"Action": ["secretsmanager:GetSecretValue"], "Resource": [params["WebhookSecretArn"]]}
        want["DecryptWebhookSecret"] = {"Action": ["kms:Decrypt"], "Resource": [params["WebhookSecretKmsKeyArn"]],
                                        "Condition": self.via("secretsmanager", "us-east-1")}
        self.assert_statements(self.role_statements(st), want)
        alarms, alarm_topic = self.check_topics_and_alarms(st)
        self.assertEqual(sorted(alarms), ["DeadMansSwitchAlarm", "FailureQueueAlarm", "FunctionErrorsAlarm",
                                          "PublishingDestinationUnhealthyAlarm"])
        dms = st.ev.properties("DeadMansSwitchAlarm")
        self.assertEqual((dms["MetricName"], int(dms["EvaluationPeriods"]), int(dms["Period"])), ("ObjectsProcessed", 12, 3600))
        self.check_health_check(st, interval=6, regions="us-east-1,eu-west-1,af-south-1,me-south-1", max_age="48")
        sns = st.c["sns"]
        for sub, topic, email in (("AlertEmailSubscription", st.physical("AlertTopic"), "security@example.com"),
                                  ("AlarmEmailSubscription", alarm_topic, "ops@example.com")):
            p = st.props(sub)
            self.assertEqual(p, {"TopicArn": topic, "Protocol": "email", "Endpoint": email})
            sns.subscribe(TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"])
            subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
            self.assertEqual([(s["Protocol"], s["Endpoint"]) for s in subs], [("email", email)])
        self.check_event_invoke_config(st)
        self.check_failure_queue(st)
        st.check_outputs()
        st.finish(missing)
        self.__class__.central = st

        # The per-Region stacks: each Region's publishing destination to the central bucket.
        pd = TRANSFORMED["plain"]["deploy/publishing-destination.yaml"]
        for region, principal in (("eu-west-1", GUARDDUTY), ("af-south-1", "guardduty.af-south-1.amazonaws.com"),
                                  ("me-south-1", "guardduty.me-south-1.amazonaws.com")):
            params = {"DetectorId": DETECTOR, "DestinationArn": st.outputs["PublishingDestinationArn"]["OutputValue"],
                      "KmsKeyArn": st.outputs["ExportKmsKeyArn"]["OutputValue"]}
            for name, value in params.items():
                self.assertRegex(value, pd["Parameters"][name]["AllowedPattern"])
            region_stack = Stack(self, f"gda-destination-{region}", pd, params, region,
                                 unresolvable_outputs=["PublishingDestinationId"])
            region_missing = region_stack.check_created_as_evaluated()
            self.assertEqual(region_missing, {"PublishingDestination"})
            p = region_stack.props("PublishingDestination")
            self.assertEqual(p, {"DetectorId": DETECTOR, "DestinationType": "S3", "DestinationProperties": {
                "DestinationArn": f"arn:aws:s3:::{bucket}/guardduty/", "KmsKeyArn": key_arn}})
            # The central key and bucket accept this Region's detector and principal.
            detector_arn = f"arn:aws:guardduty:{region}:{ACCOUNT}:detector/{DETECTOR}"
            kp = key_policy(st, "ExportKey")
            bp = statements(st.c["s3"].get_bucket_policy(Bucket=bucket)["Policy"])
            for s in (kp["GuardDutyEncryptsExports"], bp["GuardDutyPutsExports"], bp["GuardDutyGetsBucketLocation"]):
                self.assertIn(principal, as_list(s["Principal"]["Service"]))
                self.assertTrue(fnmatch.fnmatchcase(detector_arn, s["Condition"]["ArnLike"]["aws:SourceArn"]))
                self.assertEqual(s["Condition"]["StringEquals"], {"aws:SourceAccount": ACCOUNT})
            region_stack.finish(region_missing)
            # Outputs: moto cannot resolve GetAtt of a resource it skipped; the Output is checked as data.
            self.assertEqual(pd["Outputs"]["PublishingDestinationId"]["Export"]["Name"],
                             {"Fn::Sub": "${AWS::StackName}-PublishingDestinationId"})

    def test_new_bucket_in_an_opt_in_region(self):
        st, missing, _ = self.created("new-bucket-opt-in")
        self.assertFalse(st.ev.condition("NotOptInRegion"))
        bucket = "gda-cape-town-exports"
        b, key_arn = self.check_new_bucket(st, bucket=bucket, prefix="",
                                           principals=["guardduty.af-south-1.amazonaws.com"], detector=None)
        want = self.common_statements(st, bucket=bucket, key_arn=key_arn)
        want.update(self.health_statements(st))
        self.assert_statements(self.role_statements(st), want)
        self.check_topics_and_alarms(st)
        self.check_health_check(st, interval=1, regions="", max_age="0")
        self.check_event_invoke_config(st)
        self.check_failure_queue(st)
        perms = self.function_permission(st, "s3.amazonaws.com")
        self.assertIn(f"arn:aws:s3:::{bucket}", json.dumps(perms))
        st.check_outputs()
        st.finish(missing)

    # ------------------------------------------------------------------------ existing-bucket
    def test_existing_bucket(self):
        st, missing, params = self.created(
            "existing-bucket", absent=("ExportBucket", "ExportKey", "IngestQueue", "AlarmTopic", "DedupStateTable"))
        ev = st.c["events"]
        rule = st.physical("ExistingBucketRule")
        pattern = json.loads(ev.describe_rule(Name=rule)["EventPattern"])
        self.assertEqual(pattern, {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {
            "bucket": {"name": ["org-guardduty-exports"]}, "object": {"key": [{"wildcard": "findings/AWSLogs/*.jsonl.gz"}]}}})
        targets = ev.list_targets_by_rule(Rule=rule)["Targets"]
        self.assertEqual(len(targets), 1)
        self.assertEqual(targets[0]["Arn"], st.arn("Function"))
        self.assertEqual(targets[0]["DeadLetterConfig"], {"Arn": st.arn("FailureQueue")})
        self.assertEqual(targets[0]["RetryPolicy"], {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400})
        perms = self.function_permission(st, "events.amazonaws.com")
        self.assertTrue(any(ev.describe_rule(Name=rule)["Arn"] in json.dumps(p.get("Condition")) for p in perms))
        want = self.common_statements(st, bucket="org-guardduty-exports", key_arn=params["ExistingKmsKeyArn"], prefix="findings/")
        want["ReadRulesParameter"] = {"Action": ["ssm:GetParameter"],
                                      "Resource": [f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/guardduty-alerts/rules"]}
        want["PublishToRulesTopics"] = {"Action": ["sns:Publish"], "Resource": params["RulesSnsTopicArns"].split(",")}
        self.assert_statements(self.role_statements(st), want)
        alarms, _ = self.check_topics_and_alarms(st, alarm_topic_given=params["AlarmTopicArn"])
        self.assertEqual(sorted(alarms), ["DeadMansSwitchAlarm", "FailureQueueAlarm", "FunctionErrorsAlarm"])
        self.check_health_check(st, interval=0, regions=None, max_age=None)
        env = self.function_config(st)["Environment"]["Variables"]
        self.assertEqual(env["RULES_CONFIG"], "ssm:/guardduty-alerts/rules")
        self.assertNotIn("DEDUP_TABLE", env)
        self.check_event_invoke_config(st)
        self.check_failure_queue(st)
        st.check_outputs()
        st.finish(missing)

    # ---------------------------------------------------------------------- cross-account-sqs
    def test_cross_account_sqs(self):
        st, missing, params = self.created(
            "cross-account-sqs", absent=("ExportBucket", "ExportKey", "ExistingBucketRule", "AlertTopic", "AlarmTopic", "TopicKey"))
        lam, sqs = st.c["lambda"], st.c["sqs"]
        queue_arn, dlq_arn = st.arn("IngestQueue"), st.arn("IngestDeadLetterQueue")
        esms = lam.list_event_source_mappings(FunctionName=st.physical("Function"))["EventSourceMappings"]
        self.assertEqual(len(esms), 1)
        esm = esms[0]
        self.assertEqual(esm["EventSourceArn"], queue_arn)
        self.assertEqual(esm["FunctionArn"], st.arn("Function"))
        self.assertEqual(esm["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertEqual((esm["BatchSize"], esm["MaximumBatchingWindowInSeconds"]), (25, 5))
        q = sqs.get_queue_attributes(QueueUrl=st.physical("IngestQueue"), AttributeNames=["All"])["Attributes"]
        timeout = self.function_config(st)["Timeout"]
        self.assertGreaterEqual(int(q["VisibilityTimeout"]), 6 * timeout)
        self.assertGreaterEqual(int(q["VisibilityTimeout"]), 6 * int(st.template["Parameters"]["Timeout"]["MaxValue"]))
        self.assertEqual(json.loads(q["RedrivePolicy"]), {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
        self.assertEqual(q["SqsManagedSseEnabled"], "true")
        # The queue's policy (moto cannot create AWS::SQS::QueuePolicy): S3, for that bucket and
        # its owner only.
        p = st.props("IngestQueuePolicy")
        self.assertEqual(p["Queues"], [st.physical("IngestQueue")])
        pol = statements(p["PolicyDocument"])
        self.assertEqual(pol["BucketNotifications"], {
            "Sid": "BucketNotifications", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::log-archive-guardduty"},
                          "StringEquals": {"aws:SourceAccount": OTHER_ACCOUNT}}})
        self.assertEqual(pol["DenyNonTls"]["Effect"], "Deny")
        self.assertEqual(sorted(pol), ["BucketNotifications", "DenyNonTls"])
        sqs.set_queue_attributes(QueueUrl=st.physical("IngestQueue"), Attributes={"Policy": json.dumps(p["PolicyDocument"])})
        got = sqs.get_queue_attributes(QueueUrl=st.physical("IngestQueue"), AttributeNames=["Policy"])["Attributes"]
        self.assertEqual(statements(got["Policy"]), pol)
        # The role: the remote bucket's prefix, the remote key through S3, the queue.
        want = self.common_statements(st, bucket="log-archive-guardduty", key_arn=params["ExistingKmsKeyArn"])
        want["ReadIngestQueue"] = {"Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                                   "Resource": [queue_arn]}
        want["ReadRulesFile"] = {"Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::config-bucket/guardduty-alerts/rules.toml"]}
        want["ReadRulesSecrets"] = {"Action": ["secretsmanager:GetSecretValue"], "Resource": [params["RulesSecretArns"]]}
        want.update(self.health_statements(st, bucket="log-archive-guardduty"))
        self.assert_statements(self.role_statements(st), want)
        alarms, _ = self.check_topics_and_alarms(st, alarm_topic_given=params["AlarmTopicArn"], alerts_given=True)
        self.assertEqual(sorted(alarms), ["FailureQueueAlarm", "FunctionErrorsAlarm", "IngestDeadLetterQueueAlarm",
                                          "PublishingDestinationUnhealthyAlarm"])
        dlq_alarm = st.ev.properties("IngestDeadLetterQueueAlarm")
        self.assertEqual(dlq_alarm["Dimensions"], [{"Name": "QueueName", "Value": st.physical("IngestDeadLetterQueue").rsplit("/", 1)[1]}])
        self.check_health_check(st, interval=1, regions="us-east-1,us-west-2", max_age="24")
        env = self.function_config(st)["Environment"]["Variables"]
        self.assertEqual(env["SNS_TOPIC_ARN"], params["AlertTopicArn"])
        self.check_event_invoke_config(st)
        self.check_failure_queue(st)
        self.assertEqual(st.outputs["IngestQueueArn"]["OutputValue"], queue_arn)
        self.assertEqual(st.outputs["FunctionRoleArn"]["OutputValue"], st.arn("FunctionRole"))
        self.check_finding_events(st)
        self.check_batch_operations_role(st, "org-guardduty-replays")
        st.check_outputs()
        st.finish(missing)

    def check_finding_events(self, st):
        """FindingEvents=on: GuardDuty Finding events (and nothing else) go to the function, with
        EventBridge's retries and the failure queue for what cannot be delivered."""
        ev = st.c["events"]
        rule = st.physical("FindingEventsRule")
        self.assertEqual(json.loads(ev.describe_rule(Name=rule)["EventPattern"]),
                         {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"]})
        targets = ev.list_targets_by_rule(Rule=rule)["Targets"]
        self.assertEqual([t["Arn"] for t in targets], [st.arn("Function")])
        self.assertEqual(targets[0]["DeadLetterConfig"], {"Arn": st.arn("FailureQueue")})
        self.assertEqual(targets[0]["RetryPolicy"], {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400})
        perms = self.function_permission(st, "events.amazonaws.com")
        self.assertTrue(any(ev.describe_rule(Name=rule)["Arn"] in json.dumps(p.get("Condition")) for p in perms))
        self.assertEqual(st.outputs["FindingEventsRuleArn"]["OutputValue"], ev.describe_rule(Name=rule)["Arn"])

    def check_batch_operations_role(self, st, bucket):
        """BatchOperationsBucket set: a role only S3 Batch Operations of this account may assume,
        which invokes the function and reads manifests / writes reports under one prefix."""
        iam = st.c["iam"]
        role = st.physical("BatchOperationsRole")
        trust = self.trust_policy(iam, role)
        self.assertEqual([(s["Principal"], s["Action"], s["Condition"]) for s in trust["Statement"]],
                         [({"Service": "batchoperations.s3.amazonaws.com"}, "sts:AssumeRole",
                           {"StringEquals": {"aws:SourceAccount": ACCOUNT}})])
        self.assertEqual(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], [])
        self.assertEqual(iam.list_role_policies(RoleName=role)["PolicyNames"], ["replay"])
        doc = iam.get_role_policy(RoleName=role, PolicyName="replay")["PolicyDocument"]
        prefix = f"arn:aws:s3:::{bucket}/guardduty-alerts/backfill/*"
        self.assert_statements(statements(doc, moto_nulls=True), {
            "InvokeFunction": {"Action": ["lambda:InvokeFunction"],
                               "Resource": [st.arn("Function"), st.arn("Function") + ":*"]},
            "ReadManifests": {"Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": [prefix]},
            "WriteReports": {"Action": ["s3:PutObject"], "Resource": [prefix]},
            "ReportBucketLocation": {"Action": ["s3:GetBucketLocation"], "Resource": [f"arn:aws:s3:::{bucket}"]},
        })
        self.assertEqual(st.outputs["BatchOperationsRoleArn"]["OutputValue"], st.arn("BatchOperationsRole"))

    # ----------------------------------------------------------- partitions and Regions
    def placeholder_evaluator(self, case, region=None):
        """The transformed template evaluated without a stack: resources stand for themselves."""
        c = CASES[case]
        region = region or c["region"]
        partition = PARTITIONS.get(region, "aws")

        def ref(name):
            return f"{name}-physical"

        def getatt(name, attr):
            return f"arn:{partition}:placeholder:{region}:{ACCOUNT}:{name}"

        return cfn.Evaluator(TRANSFORMED["transformed"][case], c["parameters"], region=region, account=ACCOUNT,
                             partition=partition, ref=ref, getatt=getatt,
                             url_suffix="amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com")

    def test_guardduty_principal_in_every_region(self):
        for region in CLASSIC_REGIONS + OPT_IN_REGIONS + ["cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1"]:
            ev = self.placeholder_evaluator("new-bucket-defaults", region)
            ev.pseudo["AWS::Partition"] = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
            want = f"guardduty.{region}.amazonaws.com" if region in OPT_IN_REGIONS else GUARDDUTY
            key = statements(ev.properties("ExportKey")["KeyPolicy"])["GuardDutyEncryptsExports"]
            self.assertEqual(key["Principal"], {"Service": want}, region)
            bucket = statements(ev.properties("ExportBucketPolicy")["PolicyDocument"])
            for sid in ("GuardDutyGetsBucketLocation", "GuardDutyPutsExports", "DenyUnencryptedUploads", "DenyUploadsWithAnotherKey"):
                self.assertEqual(bucket[sid]["Principal"], {"Service": want}, f"{region} {sid}")
            self.assertEqual(key["Condition"]["ArnLike"]["aws:SourceArn"],
                             f"arn:{ev.pseudo['AWS::Partition']}:guardduty:*:{ACCOUNT}:detector/*")

    def test_china_and_govcloud_partitions(self):
        for case in ("china", "govcloud"):
            ev = self.placeholder_evaluator(case)
            partition = PARTITIONS[CASES[case]["region"]]
            region = CASES[case]["region"]
            self.assertTrue(ev.condition("NotOptInRegion"))
            resolved = {r: ev.properties(r) for r in ev.created()}
            for r, props in resolved.items():
                for s in all_strings(props):
                    self.assertFalse(s.startswith("arn:aws:"), f"{case}: {r} has {s}")
                    self.assertNotIn("arn:aws:", s, f"{case}: {r} has {s}")
            role = statements(resolved["FunctionRole"]["Policies"][0]["PolicyDocument"])
            self.assertEqual(role["DecryptExportsThroughS3"]["Condition"], self.via("s3", region, partition))
            self.assertEqual(role["EncryptAlertsThroughSns"]["Condition"], self.via("sns", region, partition))
            if case == "china":
                self.assertEqual(role["DecryptWebhookSecret"]["Condition"], self.via("secretsmanager", region, partition))
            self.assertEqual(role["HealthCheckReadsPublishingDestinations"]["Resource"],
                             f"arn:{partition}:guardduty:*:{ACCOUNT}:detector/*")
            key = statements(resolved["ExportKey"]["KeyPolicy"])
            self.assertEqual(key["GuardDutyEncryptsExports"]["Principal"], {"Service": GUARDDUTY})
            self.assertEqual(key["AccountAdministersTheKeyAndIamPoliciesGrantUse"]["Principal"],
                             {"AWS": f"arn:{partition}:iam::{ACCOUNT}:root"})

    # ------------------------------------------------------------------ the template as data
    def test_template_interface_outputs_and_metadata(self):
        t = TRANSFORMED["template"]
        iface = t["Metadata"]["AWS::CloudFormation::Interface"]
        params = set(t["Parameters"])
        self.assertEqual(set(iface["ParameterLabels"]), params, "every parameter has a label")
        grouped = [p for g in iface["ParameterGroups"] for p in g["Parameters"]]
        self.assertEqual(sorted(grouped), sorted(params), "every parameter is in one group")
        for key, out in t["Outputs"].items():
            self.assertTrue(out.get("Description"), key)
            self.assertEqual(out["Export"]["Name"], {"Fn::Sub": "${AWS::StackName}-" + key}, key)
        sar = t["Metadata"]["AWS::ServerlessRepo::Application"]
        cargo = read(os.path.join(ROOT, "Cargo.toml"))
        self.assertEqual(sar["SemanticVersion"], re.search(r'^version = "([^"]+)"', cargo, re.M).group(1))
        self.assertEqual(sar["SpdxLicenseId"], re.search(r'^license = "([^"]+)"', cargo, re.M).group(1))
        for f in (sar["LicenseUrl"], sar["ReadmeUrl"]):
            self.assertTrue(os.path.isfile(os.path.join(ROOT, f)), f)
        self.assertIn("Apache License", read(os.path.join(ROOT, sar["LicenseUrl"]))[:200])
        self.assertRegex(sar["Name"], r"^[a-zA-Z0-9-]+$")
        self.assertRegex(sar["Author"], r"^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$")
        self.assertLessEqual(len(sar["Description"]), 256)
        self.assertLessEqual(len(sar["Labels"]), 10)
        for path in ("template.yaml", "deploy/publishing-destination.yaml"):
            text = read(os.path.join(ROOT, path))
            self.assertNotIn("arn:aws:", text, f"{path}: a literal partition (use ${{AWS::Partition}})")
        pd = TRANSFORMED["plain"]["deploy/publishing-destination.yaml"]
        self.assertEqual(set(pd["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"]), set(pd["Parameters"]))
        for key, out in pd["Outputs"].items():
            self.assertTrue(out.get("Description"), key)
            self.assertEqual(out["Export"]["Name"], {"Fn::Sub": "${AWS::StackName}-" + key}, key)
        # The health check's interval table.
        mapping = t["Mappings"]["HealthCheckInterval"]
        allowed = [int(v) for v in t["Parameters"]["HealthCheckIntervalHours"]["AllowedValues"]]
        self.assertEqual(sorted(int(k) for k in mapping), [v for v in allowed if v])
        for hours, m in mapping.items():
            self.assertEqual(m["Schedule"], "rate(1 hour)" if hours == "1" else f"rate({hours} hours)")
            self.assertEqual(m["Seconds"], int(hours) * 3600)
            self.assertLessEqual(m["Seconds"], 86400)

    def test_parameter_constraints_match_the_code(self):
        """Values the function rejects at cold start are rejected at deploy time (CloudFormation
        applies AllowedPattern to the whole value, as re.fullmatch does)."""
        p = TRANSFORMED["template"]["Parameters"]

        def check(name, good, bad):
            pattern = p[name]["AllowedPattern"]
            for v in good:
                self.assertTrue(re.fullmatch(pattern, v), f"{name}={v!r} should be accepted")
            for v in bad:
                self.assertFalse(re.fullmatch(pattern, v), f"{name}={v!r} should be rejected")

        # MIN_SEVERITY: a number from 0 to 10, or low, medium, high, critical (src/classify.rs).
        check("MinSeverity", ["low", "Medium", "HIGH", "critical", "0", "4", "6.95", "9.5", "10", "10.0"],
              ["10.5", "10.01", "11", "-1", "severe", "", "1e1", "4,5"])
        # DEDUP_COUNT_FACTOR: a number greater than 1 (src/dedup.rs).
        check("DedupCountFactor", ["2", "1.5", "1.01", "1.10", "10", "100", "2.5"],
              ["1", "1.0", "1.00", "0.5", "0", "", "abc", "1.", "-2"])
        # WEBHOOK_CONCURRENCY: a whole number from 1 to 256 (src/config.rs).
        check("WebhookConcurrency", ["1", "16", "99", "199", "256"], ["0", "257", "1.5", "", "016"])
        check("MaxExportAgeHours", ["0", "1", "48", "9999"], ["-1", "1.5", "01", ""])
        check("ExportPrefix", ["", "guardduty/", "a/b/"], ["/x/", "x"])
        for name in ("HealthCheckRegions", "OptInSourceRegions"):
            check(name, ["", "us-east-1", "us-gov-west-1", "ap-southeast-3", "cn-northwest-1"], ["US-EAST-1", "useast1", "us-east"])
        for name in ("AlertTopicArn", "AlarmTopicArn"):
            check(name, ["", f"arn:aws:sns:us-east-1:{ACCOUNT}:t", f"arn:aws-cn:sns:cn-north-1:{ACCOUNT}:t"],
                  ["t", f"arn:aws:sns:us-east-1:{ACCOUNT}", f"arn:aws:sqs:us-east-1:{ACCOUNT}:t"])
        # SNS_TOPIC_ARN may be FIFO; the alarm topic may not (CloudWatch publishes to standard topics).
        self.assertTrue(re.fullmatch(p["AlertTopicArn"]["AllowedPattern"], f"arn:aws:sns:us-east-1:{ACCOUNT}:t.fifo"))
        self.assertFalse(re.fullmatch(p["AlarmTopicArn"]["AllowedPattern"], f"arn:aws:sns:us-east-1:{ACCOUNT}:t.fifo"))
        # DEDUP_REALERT_HOURS must not exceed the items' lifetime, DEDUP_TTL_DAYS (set to 30).
        env = TRANSFORMED["template"]["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
        ttl_days = int(env["DEDUP_TTL_DAYS"]["Fn::If"][1])
        self.assertLessEqual(p["DedupRealertHours"]["MaxValue"], ttl_days * 24)
        self.assertGreaterEqual(p["DedupRealertHours"]["MinValue"], 1)
        self.assertEqual((p["WebhookTimeoutSeconds"]["MinValue"], p["WebhookTimeoutSeconds"]["MaxValue"]), (1, 60))



if __name__ == "__main__":
    unittest.main()
