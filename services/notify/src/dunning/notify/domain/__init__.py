"""Pure notify decisions: escalation levels, sending windows, caps, opt-outs, fees (no I/O)."""
