"""Amazon Route 53 Domains (the registrar)."""
