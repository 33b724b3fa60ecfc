"""Hetzner Cloud: servers with cloud-init, volumes, object storage, load balancer."""
