"""Domain events: CloudEvents envelope, RabbitMQ topology, confirmed publisher, consumer with inbox, outbox relay."""
