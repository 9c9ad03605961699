"""Consume: records fetched from the commands topic, cut into batches, and applied in order.

Owns the FastStream subscriber (`consumer`: the fetch, its batches, the offset commits, the drain
before a rebalance) and each consumer's `pipeline` (which batch may be decided while the one
before it commits, and the order of commits). It may import `apply`, `publish`, `contracts` and
the root leaves; no SQL is written here.
"""
