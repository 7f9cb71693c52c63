"""api adapters: MongoDB repositories, the event outbox and the upload service client."""
