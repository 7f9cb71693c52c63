"""HTTP building blocks: app factory and middlewares, request parsing, pagination, peer client."""
