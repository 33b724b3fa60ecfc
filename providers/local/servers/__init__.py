"""Real servers started on this machine: used by the local sandbox adapter and the tests.

Each launcher starts its server detached (its own session), so it outlives the
short-lived process that started it (a Pulumi dynamic provider, a test helper).
"""
