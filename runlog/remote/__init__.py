"""Runs roots in object stores (s3://, gs://, any fsspec protocol), mirrored locally with few
requests: urls (pure parsing, secrets kept out of text), store (fsspec calls, one-line errors),
mirror (the local tree and its sync), roots (one root per process, polled)."""
