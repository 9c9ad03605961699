"""Publish: committed outbox rows leave for Kafka.

Owns what a transaction claims at its end and publishes right after its commit (`after_commit`),
the outbox relay that sweeps everything else and the retention job (`relay`), the result copies
for requesters' reply-to topics (`replies`) and the Kafka clients and their settings (`kafka`).
It may import `storage` (the outbox) and the root leaves, never `apply` or `consume`.
"""
