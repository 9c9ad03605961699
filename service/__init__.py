"""Program Builder: applies training-program commands from Kafka atomically in PostgreSQL."""
