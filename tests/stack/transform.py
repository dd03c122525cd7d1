"""Runs the AWS SAM translator on template.yaml, as CloudFormation's AWS::Serverless transform does.

Run with the Python of the SAM CLI's virtualenv (.venv-sam, which holds samtranslator and the
SAM CLI's CloudFormation YAML loader); tests/stack/test_stack.py calls it once for every case.

stdin:  {"cases": [{"name": N, "region": R, "parameters": {...}, "code": {"bucket": B, "key": K}}],
         "plain": ["deploy/publishing-destination.yaml", ...]}
stdout: {"template": <template.yaml as JSON>, "transformed": {N: <CloudFormation JSON>},
         "plain": {PATH: <template as JSON>}}
"""

import copy
import json
import os
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policy; the translator must not look any up in IAM."""

    def load(self):
        return {}


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    request = json.load(sys.stdin)
    with open(os.path.join(root, "template.yaml"), encoding="utf-8") as f:
        template = yaml_parse(f.read())
    out = {"template": template, "transformed": {}, "plain": {}}
    for case in request["cases"]:
        sam = copy.deepcopy(template)
        # `sam deploy` uploads the built function and points CodeUri at it; so does the test.
        sam["Resources"]["Function"]["Properties"]["CodeUri"] = (
            f"s3://{case['code']['bucket']}/{case['code']['key']}"
        )
        # The translator takes the Region (and the partition) from the boto3 session, as
        # CloudFormation's transform takes them from the stack.
        os.environ["AWS_DEFAULT_REGION"] = case["region"]
        out["transformed"][case["name"]] = transform(
            sam, dict(case["parameters"]), NoManagedPolicies()
        )
    for path in request.get("plain", []):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            out["plain"][path] = yaml_parse(f.read())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
