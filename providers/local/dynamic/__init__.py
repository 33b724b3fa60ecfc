"""The local sandbox's resources as Pulumi dynamic providers, in pure Python.

The engine pickles each provider *by reference* (its class lives in this importable
package), so the provider process (``pulumi-resource-pulumi-python``) runs the code of
this checkout, ``delete`` included. The providers hold no state and no credentials:
everything they need arrives as (secret) inputs, and generated passwords leave as
outputs the stack marks secret.
"""
