"""What the test layers and the bench share, one module each: the service as another process
(`process`) and runs of such processes on their own topics (`runs`, `crash_points`); where the
broker and PostgreSQL come from (`infrastructure`, `brokers`, `broker_faults`, `certificates`)
and the tests' own servers in front of or instead of them (`local_server`, `proxy`,
`refusing_broker`); the tests' databases and their contents (`databases`); the Kafka client and
what a command announced (`kafka`, `announced`); the service's decisions in memory and the
commands generated from them (`domain`, `generator`, `parsing`, `programs`, `athletes`,
`results`); commands flowing through faults (`flow`), the long runs' size (`scale`) and
waiting with a deadline (`waiting`); legacy programs for the import (`legacy_programs`); and
the outside tools that judge the published contract (`tooling`)."""
