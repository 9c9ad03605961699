"""What every test layer shares: the service as a process, Kafka clients, generators."""
