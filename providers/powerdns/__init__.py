"""The PowerDNS Authoritative HTTP API."""
