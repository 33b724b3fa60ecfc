"""The ``local`` sandbox: a hosting provider made of real processes on this machine."""
