"""Provider adapters: one package per hosting or DNS provider.

Each package has a light ``settings`` module (pydantic only, imported when a spec is
loaded) and heavier modules that are imported only when the provider is used.
"""
