# CloudFront in viewer mTLS passthrough mode in front of an originverify origin: the
# Terraform equivalent of cloudformation.yaml. CloudFront asks viewers for a client
# certificate, validates nothing and forwards Client-Cert / Client-Cert-Chain to the
# origin, which validates them (originverify preset "cloudfront-passthrough"). The
# sign-request CloudFront Function signs every viewer request (RFC 9421, hmac-sha256) with
# the key it reads from a KeyValueStore, so the origin needs no static secret.
#
# Provider version. viewer_mtls_config was added to aws_cloudfront_distribution by
# hashicorp/terraform-provider-aws PR #45847 (January 2026); 6.28.0 is the first release
# with it as far as could be checked offline: terraform-aws-modules/terraform-aws-cloudfront
# v6.4.0 ships its tested viewer-mTLS example with `aws >= 6.28`. The provider's release
# notes themselves were not available offline.
# The "passthrough" mode needs more: the provider validates "mode" against the AWS SDK it
# was built with, and only aws-sdk-go-v2/service/cloudfront v1.64.0 knows "passthrough"
# (PR #47930; issues #47926, #47929). Which provider release first bundles that SDK could
# not be verified offline. If `terraform plan` says `expected mode to be one of
# ["required" "optional"], got passthrough`, upgrade the provider, or apply this one setting
# with cloudformation.yaml or `aws cloudfront update-distribution` meanwhile; the rest of
# this file stays as it is.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.28" # first release with viewer_mtls_config (see the note above)
    }
  }
}

provider "aws" {
  region = "us-east-1" # the viewer certificate must be in ACM in us-east-1
}

variable "domain_name" {
  type        = string
  description = "The name clients connect to (an alternate domain name of the distribution)."
}

variable "viewer_certificate_arn" {
  type        = string
  description = "ACM certificate (us-east-1) for domain_name."
}

variable "origin_domain_name" {
  type        = string
  description = "Host name of the origin, reachable over HTTPS."
}

variable "edge_secret" {
  type        = string
  sensitive   = true
  default     = ""
  description = "Optional: sent as X-Origin-Verify while you migrate to signed requests."
}

variable "signing_key_id" {
  type        = string
  description = "Key id of the signing key, e.g. cf-2026-12 (the origin knows the key by it)."
}

variable "signing_key" {
  type        = string
  sensitive   = true
  description = "The key as `originverify keygen --hmac` writes it: hmac-sha256:<base64>."
}

# The signing key lives in a KeyValueStore: rotating it is one write, no redeployment.
resource "aws_cloudfront_key_value_store" "signing" {
  name    = "originverify-signing"
  comment = "originverify signing key of the sign-request function"
}

# One JSON value, so the key id and the key always change together. The value lands in the
# Terraform state: keep the state encrypted, or put the key with the CLI instead (README.md).
resource "aws_cloudfrontkeyvaluestore_key" "signing" {
  key_value_store_arn = aws_cloudfront_key_value_store.signing.arn
  key                 = "originverify-signing"
  value = jsonencode({
    keyid      = var.signing_key_id
    key        = var.signing_key
    authority  = var.origin_domain_name
    pathPrefix = ""
  })
}

resource "aws_cloudfront_function" "sign_request" {
  name                         = "originverify-sign-request"
  runtime                      = "cloudfront-js-2.0"
  comment                      = "originverify - sign each viewer request for the origin (RFC 9421)"
  publish                      = true
  code                         = file("${path.module}/sign-request.js")
  key_value_store_associations = [aws_cloudfront_key_value_store.signing.arn]
}

# Passthrough requires the managed CachingDisabled policy on every cache behaviour.
data "aws_cloudfront_cache_policy" "caching_disabled" {
  name = "Managed-CachingDisabled"
}

resource "aws_cloudfront_origin_request_policy" "client_cert" {
  name    = "originverify-client-cert"
  comment = "Forward the viewer's client certificate and CloudFront's claims, nothing else"

  # An allowlist: never "allViewer", which forwards whatever a client sends.
  headers_config {
    header_behavior = "whitelist"
    headers {
      items = [
        "Client-Cert",
        "Client-Cert-Chain",
        "CloudFront-Viewer-Cert-Sha256",
        "CloudFront-Viewer-Cert-Serial-Number",
        "CloudFront-Viewer-Cert-Present",
        # Written by the sign-request function (any client copy is removed first).
        "Signature",
        "Signature-Input",
      ]
    }
  }
  cookies_config {
    cookie_behavior = "all"
  }
  query_strings_config {
    query_string_behavior = "all"
  }
}

resource "aws_cloudfront_distribution" "edge" {
  enabled      = true
  comment      = "originverify - viewer mTLS passthrough"
  aliases      = [var.domain_name]
  http_version = "http2"

  viewer_certificate {
    acm_certificate_arn      = var.viewer_certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  # Passthrough: no trust_store_config; CloudFront checks only that the client holds the
  # private key, drops client-sent Client-Cert / Client-Cert-Chain and writes its own.
  viewer_mtls_config {
    mode = "passthrough"
  }

  origin {
    origin_id   = "origin"
    domain_name = var.origin_domain_name

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }

    dynamic "custom_header" {
      for_each = var.edge_secret == "" ? [] : [var.edge_secret]
      content {
        name  = "X-Origin-Verify"
        value = custom_header.value
      }
    }
  }

  default_cache_behavior {
    target_origin_id         = "origin"
    viewer_protocol_policy   = "https-only"
    allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = true
    cache_policy_id          = data.aws_cloudfront_cache_policy.caching_disabled.id
    origin_request_policy_id = aws_cloudfront_origin_request_policy.client_cert.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.sign_request.arn
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }
}

output "signing_key_value_store_arn" {
  value = aws_cloudfront_key_value_store.signing.arn
}

output "distribution_domain_name" {
  value = aws_cloudfront_distribution.edge.domain_name
}
