"""Program Builder: applies training-program commands from Kafka atomically in PostgreSQL.

The folders follow one command's way through the service: `consume` (records fetched, cut into
batches, pipelined) → `apply` (one transaction per batch: read, decide with `domain`, write with
`storage`) → `publish` (the outbox rows sent after the commit, and by the relay); `process` wires
them into one running process, and `clients` are programs that drive the service from outside
(the import tool, the demo). Each layer imports only the layers before it in that order
(`domain` and `storage` come before `apply`). Four leaf modules at the root, which import nothing
of the service, are for every layer: `config` (the settings), `retry` (the one backoff, ended by
the stop signal), `tracing` (a command's span and trace headers) and `encoding` (JSON bytes).
"""
