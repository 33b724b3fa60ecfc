"""migrate: leave a hosting provider in minutes, with the data and DNS proven.

The public API is small on purpose: load a spec, pick a target, act on it.
Heavy SDKs (pulumi, boto3) are imported lazily by the modules that need them.
"""

__version__ = "0.1.0"
