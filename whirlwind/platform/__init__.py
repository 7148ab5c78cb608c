"""Integration with other event-loop systems (Tornado's ``platform`` package)."""
