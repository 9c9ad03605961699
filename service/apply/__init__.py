"""Apply: a batch of consumed records becomes one PostgreSQL transaction.

Owns the unit of work (`unit_of_work`: the batch's programs, what it read, its pending writes),
the processor that runs it (`processor`: read → decide → write → commit, retried while the
database is away, redone record by record when the data fails it), what becomes of each record
(`outcomes`) and the wire form of what it publishes (`wire`). It may import `contracts`,
`domain`, `storage`, `publish.after_commit` (the lanes a commit claims) and the root leaves;
nothing here knows the consumer or Kafka clients.
"""
