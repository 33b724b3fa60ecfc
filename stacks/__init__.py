"""Pulumi programs: the inline program that turns the spec into one target's resources."""
