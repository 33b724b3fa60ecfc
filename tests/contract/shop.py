"""The small spec the contract tests parse: the shop, one web process, one DNS provider, and
the targets each test names (so a test shows only what it is about)."""

from __future__ import annotations


def shop_spec_text(*targets: str) -> str:
    """The shop's spec with ``targets``, each a ``name: {settings}`` line."""
    listed = "".join(f"  {target}\n" for target in targets)
    return f"""
version: 1
service: {{name: shop, domain: shop.test}}
processes:
  web: {{image: "example/shop:1", port: 8080, public: true}}
targets:
{listed}dns:
  ttl: 30
  records: [{{name: "@", type: A}}]
  providers: [ns]
dns_providers:
  ns: {{provider: rfc2136, server: 127.0.0.1, port: 5399}}
"""
