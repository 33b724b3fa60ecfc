"""Cloudflare DNS."""
