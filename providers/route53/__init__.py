"""Amazon Route53."""
