"""DigitalOcean: Droplets, managed Postgres and Redis, Spaces, load balancer."""
