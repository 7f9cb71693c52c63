"""Access tokens (DESIGN §2): claims, the JWKS cache, revocation epochs, the verifier, and the
aiohttp glue that authenticates requests — one module each.

Nothing is re-exported here: importing `nocturnal.shared.auth.claims` (as auth's domain does)
must not load aiohttp, the event bus or MongoDB.
"""
