"""Runbooks as data: ordered steps the engine runs, journals and resumes, and a person can read."""
