"""Pulumi programs: one module per hosting adapter, plus shared helpers."""
