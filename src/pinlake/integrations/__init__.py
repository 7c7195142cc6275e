"""Bridges to other tools: ``torch`` (a map-style dataset over a pin) and ``prefect`` (how the CLI runs
the flows). The engine below never imports these."""
