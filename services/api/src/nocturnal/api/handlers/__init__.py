"""api handlers: HTTP routes and event consumers (parse, call the domain, map errors)."""
