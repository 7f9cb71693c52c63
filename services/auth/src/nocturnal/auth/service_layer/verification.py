"""What every verifying instance needs from auth: the public keys and the revocation epochs."""

from __future__ import annotations

from nocturnal.auth.domain.signing_keys import PublicSigningKey
from nocturnal.auth.service_layer.ports import Repositories, SigningKeys
from nocturnal.shared.auth.claims import TOKEN_HORIZON_S
from nocturnal.shared.auth.revocation import RevocationEpoch
from nocturnal.shared.clock import Clock, utc_now
from nocturnal.shared.unit_of_work import UnitOfWork


class Verification:
    """What every verifying instance needs from auth: the public keys and the revocation
    epochs still in force."""

    def __init__(
        self, uow: UnitOfWork[Repositories], keys: SigningKeys, *, clock: Clock = utc_now
    ) -> None:
        self._uow = uow
        self._keys = keys
        self._clock = clock

    async def public_keys(self) -> list[PublicSigningKey]:
        """Every key whose tokens may still be valid, newest first (the JWKS)."""
        return await self._keys.published()

    async def revocations(self) -> list[RevocationEpoch]:
        """Revocation epochs `[{user_id, not_before}]` that may still reject an unexpired token."""
        since = int(self._clock().timestamp()) - TOKEN_HORIZON_S
        return await self._uow.repositories.revocations.in_force(since)
