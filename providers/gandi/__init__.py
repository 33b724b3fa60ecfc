"""Gandi (the registrar), through its v5 HTTP API."""
