"""Clients: programs that drive the service from outside, through Kafka, as another team would.

Owns the Kafka client of the service (`client`), the bulk import tool (`bulk_import`, with its
files in `import_file` and its progress in `import_progress`) and the demo (`demo`, its story in
`demo_story`). It may import `contracts`, `publish.kafka` (client settings) and the root leaves,
never the service's own steps: what it knows of the service is the contract.
"""
