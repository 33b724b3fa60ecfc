"""chirp: the small social app `migrate` deploys, moves and drills.

Users, follows, posts with optional images (kept in S3-compatible storage), a timeline
(optionally cached in Redis) and a worker that inspects uploaded images. All configuration
comes from environment variables; see ``chirp.config``.
"""

__version__ = "1.0.0"
