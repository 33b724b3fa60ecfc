"""What would not survive a provider ending the account, found from the spec and settings.

One set of checks serves two callers: ``migrate audit`` (every target, ahead of time) and the
pre-flight step of failovers and drills (``migrate preflight``, ``preflight.run``), which
blocks on what is critical for the target being left. Modules: ``findings`` (the types),
``operators`` (who runs what), ``dns``, ``state``, ``data``, ``services`` (one concern each),
``report`` (which checks each caller runs).
"""
