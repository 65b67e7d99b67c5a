"""Reference edge forwarder: a TLS-terminating HTTP/1.1 proxy that forwards client certificates.

It does what CloudFront viewer mTLS (passthrough, optional, required), an ALB in passthrough or
Envoy with ``SANITIZE_SET`` do, so the origin side of originverify can be developed and tested
end to end on one machine. Needs the ``edge`` extra (pyOpenSSL, httptools). See ``docs/edge.md``.
"""
