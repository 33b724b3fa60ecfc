"""The real Pulumi engine inside migrate: one project per service, one stack per target.

``migrate.engine.stack`` deploys, previews, destroys and reports; ``migrate.engine.stack_outputs``
reads a deployed target's outputs. Importing this package imports nothing heavy.
"""
