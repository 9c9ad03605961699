"""End-to-end benchmark of the service through Kafka: `python -m bench` (see bench/README.md)."""
