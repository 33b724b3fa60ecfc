"""Pulumi programs: the inline program (program.py) and one module per hosting adapter."""
