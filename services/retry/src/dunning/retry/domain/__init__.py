"""Retry decisions without I/O: decline classification, caps, slot choice, learning."""
