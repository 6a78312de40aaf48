"""Ingest: processor webhooks in, verified, deduplicated and durable canonical events out."""
