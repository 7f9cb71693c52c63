"""auth's use cases: what each route does, in one transaction each.

`ports` declares what the use cases need of the world (the user, refresh-token and revocation
repositories, the password hasher, the signing keys, the rate-limit gate); `accounts` registers,
signs in, rotates, signs out, changes passwords and deletes accounts; `verification` serves what
verifying instances need (public keys, revocation epochs). Tests run them on in-memory fakes.
"""
