"""Any host reachable over SSH: no provider API at all."""
