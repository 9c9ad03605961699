"""End-to-end benchmark of the service through Kafka, and the tooling the tests share with it:
`python -m bench` (see bench/README.md)."""
