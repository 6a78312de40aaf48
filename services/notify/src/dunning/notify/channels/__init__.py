"""Delivery channels: SMTP email (or .eml files), SMS over HTTP, signed outbound webhooks."""
