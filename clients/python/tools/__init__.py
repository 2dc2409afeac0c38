"""Development tools of the Python SDK (not shipped in the wheel)."""
