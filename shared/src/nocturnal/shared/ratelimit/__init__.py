"""Rate limiting as callers see it (DESIGN §1): policies and subject keys, the in-memory sliding
window, the ratelimit-service client, and the aiohttp glue that enforces a policy on a request.

The sliding-window algorithm on Redis lives in the ratelimit service; `SlidingWindowLog` here is
the in-memory form used when the store or the service is unreachable. Nothing is re-exported:
the ratelimit domain imports `policies` without loading aiohttp.
"""
