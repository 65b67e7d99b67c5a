"""The CloudFormation and Terraform templates wire the function the tests run.

Offline checks only (no AWS account here): ``cfn-lint`` validates cloudformation.yaml against
the CloudFormation resource schemas; Terraform is not installable from PyPI or Debian, so
main.tf is parsed with ``python-hcl2`` (HCL syntax) and its wiring asserted. Both templates must
forward exactly the headers the function covers plus the certificate and signature headers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import yaml

from tests.cloudfront_function.kit import CLAIM_HEADERS, FUNCTION

CLOUDFRONT = FUNCTION.parent
FORWARDED = {
    "client-cert",
    "client-cert-chain",
    *CLAIM_HEADERS,
    "signature",
    "signature-input",
}


def cloudformation() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node, deep=True)}
        return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tag)
    loaded: dict[str, Any] = yaml.load((CLOUDFRONT / "cloudformation.yaml").read_text(), Loader)
    return loaded


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and block labels."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if not k.startswith("__")}
    return value


def terraform() -> dict[str, dict[str, Any]]:
    with (CLOUDFRONT / "main.tf").open() as handle:
        parsed = unquote(hcl2.load(handle))
    resources: dict[str, dict[str, Any]] = {}
    for block in parsed["resource"]:
        for kind, named in block.items():
            for name, body in named.items():
                resources[f"{kind}.{name}"] = body
    return resources


def test_cfn_lint_passes() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(CLOUDFRONT / "cloudformation.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cloudformation_wiring() -> None:
    resources = cloudformation()["Resources"]
    function = resources["SignRequestFunction"]["Properties"]
    assert function["FunctionCode"] == FUNCTION.read_text()  # the exact file, inlined
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    (association,) = function["FunctionConfig"]["KeyValueStoreAssociations"]
    assert association["KeyValueStoreARN"] == {"GetAtt": "SigningKeyValueStore.Arn"}
    assert resources["SigningKeyValueStore"]["Type"] == "AWS::CloudFront::KeyValueStore"
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    (bound,) = config["DefaultCacheBehavior"]["FunctionAssociations"]
    assert bound["EventType"] == "viewer-request"
    assert bound["FunctionARN"] == {"GetAtt": "SignRequestFunction.FunctionMetadata.FunctionARN"}
    policy = resources["ClientCertOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    assert policy["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    assert {h.lower() for h in policy["HeadersConfig"]["Headers"]} == FORWARDED
    assert config["ViewerMtlsConfig"] == {"Mode": "passthrough"}


def test_terraform_wiring() -> None:
    resources = terraform()
    function = resources["aws_cloudfront_function.sign_request"]
    assert function["runtime"] == "cloudfront-js-2.0"
    assert function["code"] == '${file("${path.module}/sign-request.js")}'
    assert function["key_value_store_associations"] == [
        "${aws_cloudfront_key_value_store.signing.arn}"
    ]
    key = resources["aws_cloudfrontkeyvaluestore_key.signing"]
    assert key["key"] == "originverify-signing"
    assert re.search(r"keyid\s*=\s*var\.signing_key_id", key["value"])
    distribution = resources["aws_cloudfront_distribution.edge"]
    behaviour = distribution["default_cache_behavior"][0]
    (bound,) = behaviour["function_association"]
    assert bound["event_type"] == "viewer-request"
    assert bound["function_arn"] == "${aws_cloudfront_function.sign_request.arn}"
    policy = resources["aws_cloudfront_origin_request_policy.client_cert"]
    headers = policy["headers_config"][0]
    assert headers["header_behavior"] == "whitelist"
    assert {h.lower() for h in headers["headers"][0]["items"]} == FORWARDED
    assert distribution["viewer_mtls_config"][0]["mode"] == "passthrough"


def test_function_covers_what_the_policies_forward() -> None:
    declared = re.search(r"const CLAIMS = \[([^\]]*)\]", FUNCTION.read_text())
    assert declared is not None
    assert tuple(re.findall(r"'([^']+)'", declared.group(1))) == CLAIM_HEADERS
