"""DNS swings and zone evacuation: plan, apply with a journal, verify at every nameserver.

The functions here never print; they take an optional progress callback and return
results. ``migrate.cli.dns_cmds`` is the thin command-line layer.
"""
