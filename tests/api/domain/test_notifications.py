"""Who is notified of which event, with ids that make storing twice harmless."""

from __future__ import annotations

from datetime import UTC, datetime

from nocturnal.api.domain.notifications import notifications_for

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
APPLICATION = {
    "id": "a1",
    "duty_id": "d1",
    "applicant_id": "nurse",
    "status": "ACCEPTED",
    "duty_title": "Night cover",
    "posted_by": "admin",
}
DUTY = {"id": "d1", "title": "Night cover", "posted_by": "admin"}


def recipients(name: str, data: dict[str, str], applicants: tuple[str, ...] = ()) -> list[str]:
    return [n.user_id for n in notifications_for("e1", name, data, at=AT, applicant_ids=applicants)]


def test_the_poster_hears_of_submissions_withdrawals_and_a_filled_duty() -> None:
    assert recipients("application.submitted", APPLICATION) == ["admin"]
    assert recipients("application.withdrawn", APPLICATION) == ["admin"]
    assert recipients("duty.filled", DUTY) == ["admin"]


def test_the_applicant_hears_of_decisions() -> None:
    accepted = notifications_for("e1", "application.accepted", APPLICATION, at=AT)
    assert [n.user_id for n in accepted] == ["nurse"]
    assert "Night cover" in accepted[0].message
    assert (accepted[0].duty_id, accepted[0].application_id) == ("d1", "a1")
    assert recipients("application.rejected", APPLICATION) == ["nurse"]


def test_applicants_hear_of_changes_and_cancellation_of_their_duty() -> None:
    assert recipients("duty.cancelled", DUTY, ("n1", "n2")) == ["n1", "n2"]
    assert recipients("duty.updated", DUTY, ("n1",)) == ["n1"]
    assert recipients("duty.posted", DUTY, ("n1",)) == []


def test_ids_depend_on_event_and_recipient_only() -> None:
    first = notifications_for("e1", "duty.cancelled", DUTY, at=AT, applicant_ids=["n1", "n2"])
    again = notifications_for("e1", "duty.cancelled", DUTY, at=AT, applicant_ids=["n1", "n2"])
    other = notifications_for("e2", "duty.cancelled", DUTY, at=AT, applicant_ids=["n1"])
    assert [n.id for n in first] == [n.id for n in again]
    assert first[0].id != first[1].id
    assert other[0].id != first[0].id
    assert first[0].to_json()["read"] is False
