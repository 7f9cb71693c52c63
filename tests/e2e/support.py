"""What the end-to-end tests build their requests from."""

from __future__ import annotations

from datetime import date
from typing import Any


def duty_body(title: str, day: date, **changes: Any) -> dict[str, Any]:
    """A valid POST /api/duties body for `day`; `changes` replace fields."""
    duty = {
        "title": title,
        "hospital_name": "St Mary's General Hospital",
        "department": "Intensive Care Unit",
        "specialty": "Critical Care",
        "description": "Night cover for the ICU.",
        "date": day.isoformat(),
        "start_time": "22:00",
        "end_time": "06:00",
        "hourly_rate": 95.0,
        "positions_needed": 1,
        "urgency": "URGENT",
        "location": "London",
        "requirements": {"minimum_experience": 2, "required_skills": ["ALS"]},
    }
    return {**duty, **changes}
