"""Use cases on duties and applications: each state change and its events in one transaction.

Every change runs in `in_transaction` (retried on write conflicts), writes its domain events to
the outbox in the same transaction and wakes the relay after the commit (DESIGN §3).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.api.adapters.applications import ApplicationRepository
from nocturnal.api.adapters.duties import DutyQuery, DutyRepository
from nocturnal.api.domain.applications import Application, ApplicationStatus, InvalidTransition
from nocturnal.api.domain.duties import Duty, DutyDetails, DutyFull, DutyStatus
from nocturnal.api.domain.errors import StateConflict
from nocturnal.api.domain.events import DomainEvent, EventName, application_event, duty_event
from nocturnal.shared.clock import utc_now
from nocturnal.shared.mongo import Document, in_transaction
from nocturnal.shared.paging import Page, PageRequest

T = TypeVar("T")


class EventOutbox(Protocol):
    """Where domain events go inside a transaction; `notify` after the commit."""

    async def add(self, events: Iterable[DomainEvent], *, session: AsyncClientSession) -> None:
        """Store `events` within the transaction on `session`."""
        ...

    def notify(self) -> None:
        """The transaction committed: publish soon."""
        ...


class NotFound(Exception):
    """No such resource, or none the caller may see."""


class NotPoster(Exception):
    """The duty exists, but the caller is not the admin who posted it."""


class DutyChanged(StateConflict):
    """The duty changed between reading and writing it."""


def new_id() -> str:
    """A new resource id (uuid4, hex)."""
    return uuid.uuid4().hex


class Marketplace:
    """Posting duties, applying, and deciding on applications."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        duties: DutyRepository,
        applications: ApplicationRepository,
        outbox: EventOutbox,
    ) -> None:
        self._client = db.client
        self.duties = duties
        self.applications = applications
        self._outbox = outbox

    async def post_duty(self, details: DutyDetails, *, posted_by: str) -> Duty:
        """Post a new OPEN duty (`duty.posted`).

        Raises:
            InvalidValue: the details break a rule (past date, start = end, ...).
        """
        duty = Duty.post(new_id(), details, posted_by=posted_by, now=utc_now())

        async def work(session: AsyncClientSession) -> Duty:
            await self.duties.insert(duty, session=session)
            await self._outbox.add([duty_event(EventName.DUTY_POSTED, duty)], session=session)
            return duty

        return await self._transact(work)

    async def duty(self, duty_id: str) -> Duty:
        """The duty. Raises NotFound."""
        duty = await self.duties.get(duty_id)
        if duty is None:
            raise NotFound("no such duty")
        return duty

    async def list_duties(self, query: DutyQuery, request: PageRequest) -> Page[Duty]:
        """A page of the duties matching `query`, soonest first. Raises InvalidCursor."""
        return await self.duties.page(query, request)

    async def revise_duty(
        self, duty_id: str, poster_id: str, revise: Callable[[DutyDetails], DutyDetails]
    ) -> Duty:
        """Change an OPEN duty's details (`duty.updated`; `duty.filled` if it becomes full).
        Details that come out unchanged change nothing.

        Raises:
            NotFound, NotPoster: no such duty, or posted by someone else.
            DutyNotOpen: it is FILLED or CANCELLED.
            InvalidValue: the new details break a rule.
        """

        async def work(session: AsyncClientSession) -> Duty:
            duty = await self._posted_duty(duty_id, poster_id, session)
            details = revise(duty.details)
            if details == duty.details:
                return duty
            revised = duty.revise(details, utc_now())
            await self._replace(revised, duty, session)
            events = [duty_event(EventName.DUTY_UPDATED, revised)]
            if revised.status is DutyStatus.FILLED:
                events.append(duty_event(EventName.DUTY_FILLED, revised))
            await self._outbox.add(events, session=session)
            return revised

        return await self._transact(work)

    async def cancel_duty(self, duty_id: str, poster_id: str) -> Duty:
        """Cancel a duty (`duty.cancelled`, which notifies its applicants).

        Raises:
            NotFound, NotPoster: no such duty, or posted by someone else.
            DutyNotOpen: it is already cancelled.
        """

        async def work(session: AsyncClientSession) -> Duty:
            duty = await self._posted_duty(duty_id, poster_id, session)
            cancelled = duty.cancel(utc_now())
            await self._replace(cancelled, duty, session)
            await self._outbox.add(
                [duty_event(EventName.DUTY_CANCELLED, cancelled)], session=session
            )
            return cancelled

        return await self._transact(work)

    async def apply(self, duty_id: str, applicant_id: str, cover_letter: str) -> Application:
        """Apply to an OPEN duty (`application.submitted`).

        Raises:
            NotFound: no such duty.
            DutyNotOpen: the duty is FILLED or CANCELLED.
            AlreadyApplied: the applicant already applied to it.
        """

        async def work(session: AsyncClientSession) -> Application:
            duty = await self.duties.get(duty_id, session=session)
            if duty is None:
                raise NotFound("no such duty")
            application = Application.submit(
                new_id(), duty, applicant_id=applicant_id, cover_letter=cover_letter, now=utc_now()
            )
            await self.applications.insert(application, session=session)
            event = application_event(EventName.APPLICATION_SUBMITTED, application, duty)
            await self._outbox.add([event], session=session)
            return application

        return await self._transact(work)

    async def applications_for_duty(
        self, duty_id: str, poster_id: str, request: PageRequest
    ) -> Page[Application]:
        """A page of the applications to the poster's duty, oldest first.

        Raises:
            NotFound, NotPoster: no such duty, or posted by someone else.
            InvalidCursor: `after` is not a cursor of this listing.
        """
        duty = await self.duty(duty_id)
        if duty.posted_by != poster_id:
            raise NotPoster("only the admin who posted the duty sees its applications")
        return await self.applications.page_for_duty(duty_id, request)

    async def applications_of(self, applicant_id: str, request: PageRequest) -> Page[Application]:
        """A page of the applicant's applications, newest first. Raises InvalidCursor."""
        return await self.applications.page_for_applicant(applicant_id, request)

    async def accept(self, application_id: str, poster_id: str) -> Application:
        """Accept a PENDING application, taking one of the duty's positions atomically
        (`application.accepted`; `duty.filled` when the last position is taken).

        Never more accepted than `positions_needed`, even under concurrent accepts: the position
        is taken by a conditional increment in the same transaction as the status change.

        Raises:
            NotFound: no such application to a duty of the poster.
            InvalidTransition: the application is not PENDING.
            DutyNotOpen, DutyFull: no position can be taken.
        """

        async def work(session: AsyncClientSession) -> Application:
            application, duty = await self._application_to_poster(
                application_id, poster_id, session
            )
            now = utc_now()
            accepted = application.move_to(ApplicationStatus.ACCEPTED, now)
            duty.ensure_position_free()
            taken = await self.duties.take_position(duty, now, session=session)
            if taken is None:
                raise DutyFull("every position of the duty is filled")
            await self._move(accepted, application.status, session)
            events = [application_event(EventName.APPLICATION_ACCEPTED, accepted, taken)]
            if taken.status is DutyStatus.FILLED:
                events.append(duty_event(EventName.DUTY_FILLED, taken))
            await self._outbox.add(events, session=session)
            return accepted

        return await self._transact(work)

    async def reject(self, application_id: str, poster_id: str) -> Application:
        """Reject a PENDING application (`application.rejected`).

        Raises:
            NotFound: no such application to a duty of the poster.
            InvalidTransition: the application is not PENDING.
        """

        async def work(session: AsyncClientSession) -> Application:
            application, duty = await self._application_to_poster(
                application_id, poster_id, session
            )
            rejected = application.move_to(ApplicationStatus.REJECTED, utc_now())
            await self._move(rejected, application.status, session)
            event = application_event(EventName.APPLICATION_REJECTED, rejected, duty)
            await self._outbox.add([event], session=session)
            return rejected

        return await self._transact(work)

    async def withdraw(self, application_id: str, applicant_id: str) -> Application:
        """Withdraw one's PENDING or ACCEPTED application (`application.withdrawn`); an accepted
        one frees its position and a FILLED duty reopens.

        Raises:
            NotFound: the applicant has no such application.
            InvalidTransition: it is already REJECTED or WITHDRAWN.
        """

        async def work(session: AsyncClientSession) -> Application:
            application = await self.applications.get(application_id, session=session)
            if application is None or application.applicant_id != applicant_id:
                raise NotFound("no such application")
            now = utc_now()
            withdrawn = application.move_to(ApplicationStatus.WITHDRAWN, now)
            await self._move(withdrawn, application.status, session)
            duty = await self._duty_in(application.duty_id, session)
            if application.status is ApplicationStatus.ACCEPTED:
                duty = await self.duties.free_position(duty.id, now, session=session) or duty
            event = application_event(EventName.APPLICATION_WITHDRAWN, withdrawn, duty)
            await self._outbox.add([event], session=session)
            return withdrawn

        return await self._transact(work)

    async def erase_participant(self, user_id: str, *, session: AsyncClientSession) -> None:
        """Erase a deleted user's part in the marketplace, inside the caller's transaction.

        Their applications are deleted (accepted ones free their positions); their duties that
        are not cancelled are cancelled (`duty.cancelled` tells the applicants).
        """
        now = utc_now()
        for application in await self.applications.of_applicant(user_id, session=session):
            if application.status is ApplicationStatus.ACCEPTED:
                await self.duties.free_position(application.duty_id, now, session=session)
        await self.applications.delete_of_applicant(user_id, session=session)
        events = []
        for duty in await self.duties.live_of_poster(user_id, session=session):
            cancelled = duty.cancel(now)
            await self._replace(cancelled, duty, session)
            events.append(duty_event(EventName.DUTY_CANCELLED, cancelled))
        await self._outbox.add(events, session=session)

    async def _transact(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        result = await in_transaction(self._client, work)
        self._outbox.notify()
        return result

    async def _duty_in(self, duty_id: str, session: AsyncClientSession) -> Duty:
        duty = await self.duties.get(duty_id, session=session)
        if duty is None:
            raise NotFound("no such duty")
        return duty

    async def _posted_duty(self, duty_id: str, poster_id: str, session: AsyncClientSession) -> Duty:
        duty = await self._duty_in(duty_id, session)
        if duty.posted_by != poster_id:
            raise NotPoster("only the admin who posted the duty may change it")
        return duty

    async def _application_to_poster(
        self, application_id: str, poster_id: str, session: AsyncClientSession
    ) -> tuple[Application, Duty]:
        # Applications are private to the applicant and the poster: others get NotFound.
        application = await self.applications.get(application_id, session=session)
        if application is None:
            raise NotFound("no such application")
        duty = await self.duties.get(application.duty_id, session=session)
        if duty is None or duty.posted_by != poster_id:
            raise NotFound("no such application")
        return application, duty

    async def _move(
        self, application: Application, expected: ApplicationStatus, session: AsyncClientSession
    ) -> None:
        if not await self.applications.move(application, expected=expected, session=session):
            raise InvalidTransition("the application changed meanwhile")

    async def _replace(self, duty: Duty, expected: Duty, session: AsyncClientSession) -> None:
        if not await self.duties.replace(duty, expected=expected, session=session):
            raise DutyChanged("the duty changed meanwhile; try again")
