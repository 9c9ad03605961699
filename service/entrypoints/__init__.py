"""Entry points: the FastStream application (Kafka + HTTP) and the command line."""
