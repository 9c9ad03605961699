"""The local stack a developer, the tests and the benchmark run the service on: PostgreSQL from
its wheel (`postgres`), Apache Kafka from Maven Central (`apache_kafka`) or Tansu (`tansu`), each
a child process (`children`), started together by `stack`.

It is not part of the service: among the service's modules only `service.process.dev` (the
`dev` and `demo` commands, when they start a stack of their own) imports it, and it imports
nothing of the service but its settings' `ConfigurationError`.
"""
