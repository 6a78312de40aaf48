"""The notify service: escalation levels, channels, content and compliance for customer messages."""
