"""Data portability: Postgres and media moved between targets and backup locations, with proof.

Core functions take ``TargetOutputs`` (or endpoints built from them), never print, and
accept an optional progress callback; ``migrate.cli.data_cmds`` is the thin CLI on top.
"""
