"""Retry: owns dunning cases and their attempts; plans and executes payment retries."""
