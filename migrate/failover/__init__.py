"""Failover and drills: the actions the runbooks name, pre-flight checks, and how a run is driven."""
