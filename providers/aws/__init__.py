"""Amazon Web Services: ECS on Fargate, RDS, ElastiCache, S3, ALB."""
