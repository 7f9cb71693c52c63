"""Use cases of the marketplace: posting duties, applying, deciding on applications, erasure.

Every change runs in one unit of work: the state change and its events commit together
(DESIGN §3), and a write conflict runs the change again on fresh reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from nocturnal.api.domain.applications import Application, ApplicationStatus, InvalidTransition
from nocturnal.api.domain.duties import (
    Duty,
    DutyChanged,
    DutyDetails,
    DutyFull,
    DutyQuery,
    DutyStatus,
)
from nocturnal.api.domain.errors import AccountErased, NotFound, NotPoster
from nocturnal.api.domain.events import EventName, application_event, duty_event
from nocturnal.api.service_layer.ports import Repositories
from nocturnal.shared.clock import Clock, utc_now
from nocturnal.shared.ids import IdFactory, new_id
from nocturnal.shared.paging import Page, PageRequest
from nocturnal.shared.unit_of_work import Transaction, UnitOfWork

Tx = Transaction[Repositories]


class Marketplace:
    """Posting duties, applying, and deciding on applications."""

    def __init__(
        self, uow: UnitOfWork[Repositories], *, clock: Clock = utc_now, ids: IdFactory = new_id
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def post_duty(self, details: DutyDetails, *, posted_by: str) -> Duty:
        """Post a new OPEN duty (`duty.posted`).

        Raises:
            InvalidValue: the details break a rule (past date, start = end, ...).
            AccountErased: the poster's account was deleted meanwhile.
        """
        duty = Duty.post(self._ids(), details, posted_by=posted_by, now=self._clock())

        async def work(tx: Tx) -> Duty:
            await _claim(tx, posted_by)
            await tx.repositories.duties.insert(duty)
            tx.publish(duty_event(EventName.DUTY_POSTED, duty))
            return duty

        return await self._uow.run(work)

    async def duty(self, duty_id: str) -> Duty:
        """The duty. Raises NotFound."""
        return await _duty(self._uow.repositories, duty_id)

    async def list_duties(self, query: DutyQuery, request: PageRequest) -> Page[Duty]:
        """A page of the duties matching `query`, soonest first. Raises InvalidCursor."""
        return await self._uow.repositories.duties.page(query, request)

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

        async def work(tx: Tx) -> Duty:
            duty = await _posted_duty(tx.repositories, duty_id, poster_id)
            details = revise(duty.details)
            if details == duty.details:
                return duty
            revised = duty.revise(details, self._clock())
            await _replace(tx.repositories, revised, duty)
            tx.publish(duty_event(EventName.DUTY_UPDATED, revised))
            if revised.status is DutyStatus.FILLED:
                tx.publish(duty_event(EventName.DUTY_FILLED, revised))
            return revised

        return await self._uow.run(work)

    async def cancel_duty(self, duty_id: str, poster_id: str) -> Duty:
        """Cancel a duty (`duty.cancelled`, which notifies its applicants).

        Raises:
            NotFound, NotPoster: no such duty, or posted by someone else.
            DutyNotOpen: it is already cancelled.
        """

        async def work(tx: Tx) -> Duty:
            duty = await _posted_duty(tx.repositories, duty_id, poster_id)
            cancelled = duty.cancel(self._clock())
            await _replace(tx.repositories, cancelled, duty)
            tx.publish(duty_event(EventName.DUTY_CANCELLED, cancelled))
            return cancelled

        return await self._uow.run(work)

    async def apply(self, duty_id: str, applicant_id: str, cover_letter: str) -> Application:
        """Apply to an OPEN duty (`application.submitted`).

        Raises:
            NotFound: no such duty.
            DutyNotOpen: the duty is FILLED or CANCELLED.
            AlreadyApplied: the applicant already applied to it.
            AccountErased: the applicant's account was deleted meanwhile.
        """
        application_id = self._ids()

        async def work(tx: Tx) -> Application:
            await _claim(tx, applicant_id)
            duty = await _duty(tx.repositories, duty_id)
            application = Application.submit(
                application_id,
                duty,
                applicant_id=applicant_id,
                cover_letter=cover_letter,
                now=self._clock(),
            )
            await tx.repositories.applications.insert(application)
            tx.publish(application_event(EventName.APPLICATION_SUBMITTED, application, duty))
            return application

        return await self._uow.run(work)

    async def applications_for_duty(
        self, duty_id: str, poster_id: str, request: PageRequest
    ) -> Page[Application]:
        """A page of the applications to the poster's duty, oldest first.

        Raises:
            NotFound, NotPoster: no such duty, or posted by someone else.
            InvalidCursor: the cursor is not one of this listing.
        """
        repositories = self._uow.repositories
        duty = await _duty(repositories, duty_id)
        if duty.posted_by != poster_id:
            raise NotPoster("only the admin who posted the duty sees its applications")
        return await repositories.applications.page_for_duty(duty_id, request)

    async def applications_of(self, applicant_id: str, request: PageRequest) -> Page[Application]:
        """A page of the applicant's applications, newest first. Raises InvalidCursor."""
        return await self._uow.repositories.applications.page_for_applicant(applicant_id, request)

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

        async def work(tx: Tx) -> Application:
            repositories = tx.repositories
            application, duty = await _application_to_poster(
                repositories, application_id, poster_id
            )
            now = self._clock()
            accepted = application.move_to(ApplicationStatus.ACCEPTED, now)
            duty.ensure_position_free()
            taken = await repositories.duties.take_position(duty, now)
            if taken is None:
                raise DutyFull("every position of the duty is filled")
            await _move(repositories, accepted, application.status)
            tx.publish(application_event(EventName.APPLICATION_ACCEPTED, accepted, taken))
            if taken.status is DutyStatus.FILLED:
                tx.publish(duty_event(EventName.DUTY_FILLED, taken))
            return accepted

        return await self._uow.run(work)

    async def reject(self, application_id: str, poster_id: str) -> Application:
        """Reject a PENDING application (`application.rejected`).

        Raises:
            NotFound: no such application to a duty of the poster.
            InvalidTransition: the application is not PENDING.
        """

        async def work(tx: Tx) -> Application:
            application, duty = await _application_to_poster(
                tx.repositories, application_id, poster_id
            )
            rejected = application.move_to(ApplicationStatus.REJECTED, self._clock())
            await _move(tx.repositories, rejected, application.status)
            tx.publish(application_event(EventName.APPLICATION_REJECTED, rejected, duty))
            return rejected

        return await self._uow.run(work)

    async def withdraw(self, application_id: str, applicant_id: str) -> Application:
        """Withdraw one's PENDING or ACCEPTED application (`application.withdrawn`); an accepted
        one frees its position and a FILLED duty reopens.

        Raises:
            NotFound: the applicant has no such application.
            InvalidTransition: it is already REJECTED or WITHDRAWN.
        """

        async def work(tx: Tx) -> Application:
            repositories = tx.repositories
            application = await repositories.applications.get(application_id)
            if application is None or application.applicant_id != applicant_id:
                raise NotFound("no such application")
            now = self._clock()
            withdrawn = application.move_to(ApplicationStatus.WITHDRAWN, now)
            await _withdraw(tx, application, withdrawn, now)
            return withdrawn

        return await self._uow.run(work)

    async def erase_member(self, tx: Tx, user_id: str) -> None:
        """`user.deleted`: erase the user's part in everything api holds, inside `tx`.

        Their live applications are withdrawn (`application.withdrawn` tells the posters;
        accepted ones free their positions, a FILLED duty reopens), then every application of
        theirs is deleted; their duties that are not cancelled are cancelled (`duty.cancelled`
        tells the applicants); their profile and notifications are deleted; and they are marked
        erased, so nothing new is stored for them (a concurrent write of their data conflicts
        with the mark). Running it again changes nothing more.
        """
        repositories, now = tx.repositories, self._clock()
        for application in await repositories.applications.of_applicant(user_id):
            if application.is_live:
                await _withdraw(tx, application, application.withdrawn_on_erasure(now), now)
        await repositories.applications.delete_of_applicant(user_id)
        for duty in await repositories.duties.live_of_poster(user_id):
            cancelled = duty.cancel(now)
            await _replace(repositories, cancelled, duty)
            tx.publish(duty_event(EventName.DUTY_CANCELLED, cancelled))
        await repositories.profiles.erase(user_id)
        await repositories.notifications.erase_of(user_id)
        await repositories.erasures.mark_erased(user_id, now)


async def _withdraw(
    tx: Tx, application: Application, withdrawn: Application, now: datetime
) -> None:
    """Store `application` as `withdrawn`; an accepted one frees its position (a FILLED duty
    reopens); `application.withdrawn` tells the poster."""
    repositories = tx.repositories
    await _move(repositories, withdrawn, application.status)
    duty = await _duty(repositories, application.duty_id)
    if application.status is ApplicationStatus.ACCEPTED:
        duty = await repositories.duties.free_position(duty.id, now) or duty
    tx.publish(application_event(EventName.APPLICATION_WITHDRAWN, withdrawn, duty))


async def _claim(tx: Tx, user_id: str) -> None:
    if not await tx.repositories.erasures.claim(user_id):
        raise AccountErased


async def _duty(repositories: Repositories, duty_id: str) -> Duty:
    duty = await repositories.duties.get(duty_id)
    if duty is None:
        raise NotFound("no such duty")
    return duty


async def _posted_duty(repositories: Repositories, duty_id: str, poster_id: str) -> Duty:
    duty = await _duty(repositories, duty_id)
    if duty.posted_by != poster_id:
        raise NotPoster("only the admin who posted the duty may change it")
    return duty


async def _application_to_poster(
    repositories: Repositories, application_id: str, poster_id: str
) -> tuple[Application, Duty]:
    # Applications are private to the applicant and the poster: others get NotFound.
    application = await repositories.applications.get(application_id)
    if application is None:
        raise NotFound("no such application")
    duty = await repositories.duties.get(application.duty_id)
    if duty is None or duty.posted_by != poster_id:
        raise NotFound("no such application")
    return application, duty


async def _move(
    repositories: Repositories, application: Application, expected: ApplicationStatus
) -> None:
    if not await repositories.applications.move(application, expected=expected):
        raise InvalidTransition("the application changed meanwhile")


async def _replace(repositories: Repositories, duty: Duty, expected: Duty) -> None:
    if not await repositories.duties.replace(duty, expected=expected):
        raise DutyChanged("the duty changed meanwhile; try again")
