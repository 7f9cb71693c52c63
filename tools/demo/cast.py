"""The cast and the script: who registers, which duties are posted, who applies to what."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from tools.demo.contract import CENT

Role = Literal["doctor", "nurse", "hospital_admin"]
PLATFORM_FEE_PERCENT = Decimal(5)


@dataclass(frozen=True)
class Persona:
    """Someone in the scenario: who they are and how their profile and photo should look."""

    first: str
    last: str
    role: Role
    photo_format: Literal["JPEG", "PNG"]
    colours: tuple[str, str]
    specialty: str | None = None
    years_experience: int = 0
    skills: tuple[str, ...] = ()
    location: str = "London"

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def initials(self) -> str:
        return self.first[0] + self.last[0]

    @property
    def handle(self) -> str:
        ascii_name = unicodedata.normalize("NFKD", self.name).encode("ascii", "ignore").decode()
        return ascii_name.lower().replace(" ", ".")

    def email(self, run_id: str) -> str:
        return f"{self.handle}.{run_id}@example.com"


# fmt: off
PERSONAS: tuple[Persona, ...] = (
    Persona("Helen", "Marsh", "hospital_admin", "JPEG", ("#1d3557", "#457b9d")),
    Persona("Rahul", "Iyer", "hospital_admin", "PNG", ("#2a9d8f", "#e9c46a"), location="Leeds"),
    Persona(
        "Amara", "Okafor", "doctor", "PNG", ("#6a040f", "#f48c06"), "Critical Care", 7,
        ("ventilator management", "central line placement", "ALS", "trauma care"),
    ),
    Persona(
        "Tomás", "Rivera", "doctor", "JPEG", ("#3a0ca3", "#4cc9f0"), "Emergency Medicine", 5,
        ("ALS", "trauma care", "ventilator management"),
    ),
    Persona(
        "Daniel", "Kim", "doctor", "PNG", ("#283618", "#dda15e"), "Neurology", 9,
        ("stroke thrombolysis", "ALS", "ventilator management"), "Leeds",
    ),
    Persona(
        "Grace", "Liu", "nurse", "JPEG", ("#5f0f40", "#fb8b24"), "Paediatric Nursing", 6,
        ("paediatric life support", "IV cannulation"),
    ),
    Persona(
        "Jonas", "Berg", "nurse", "PNG", ("#03045e", "#00b4d8"), "Acute Medicine Nursing", 4,
        ("IV cannulation", "sepsis screening", "ALS"), "Leeds",
    ),
    Persona(
        "Fatima", "Zahra", "nurse", "JPEG", ("#7b2cbf", "#c77dff"), "Cardiac Nursing", 11,
        ("telemetry", "IV cannulation", "sepsis screening"), "Leeds",
    ),
)
# fmt: on


@dataclass(frozen=True)
class DutyPlan:
    """A duty to post, with the pay figures the platform should compute for it."""

    poster: str
    title: str
    hospital_name: str
    department: str
    specialty: str
    day: int  # days from today
    start_time: str
    end_time: str
    hourly_rate: str
    positions_needed: int
    urgency: Literal["NORMAL", "URGENT", "EMERGENCY"]
    location: str
    minimum_experience: int
    required_skills: tuple[str, ...]
    expected_hours: str

    @property
    def expected_total(self) -> Decimal:
        return (Decimal(self.expected_hours) * Decimal(self.hourly_rate)).quantize(CENT)

    @property
    def expected_net(self) -> Decimal:
        return (self.expected_total * (100 - PLATFORM_FEE_PERCENT) / 100).quantize(CENT)

    def payload(self, today: date) -> dict[str, Any]:
        return {
            "title": self.title,
            "hospital_name": self.hospital_name,
            "department": self.department,
            "specialty": self.specialty,
            "description": f"{self.title} at {self.hospital_name}, {self.department}. "
            "Handover 15 minutes before the start; on-site parking and rest room provided.",
            "date": (today + timedelta(days=self.day)).isoformat(),
            "start_time": self.start_time,
            "end_time": self.end_time,
            "hourly_rate": float(self.hourly_rate),
            "positions_needed": self.positions_needed,
            "urgency": self.urgency,
            "location": self.location,
            "requirements": {
                "minimum_experience": self.minimum_experience,
                "required_skills": list(self.required_skills),
            },
        }


ST_MARYS = "St Mary's General Hospital"
NORTHGATE = "Northgate Royal Infirmary"
# Columns: poster, title, hospital, department, specialty, day (from today), start, end,
# hourly rate, positions, urgency, location, minimum experience, required skills, expected hours.
# fmt: off
DUTIES: tuple[DutyPlan, ...] = (
    DutyPlan("Helen", "Overnight ICU Registrar", ST_MARYS, "Intensive Care Unit", "Critical Care",
             1, "22:00", "06:00", "95.00", 2, "URGENT", "London", 3,
             ("ventilator management",), "8"),
    DutyPlan("Helen", "Emergency Department Night Doctor", ST_MARYS, "Emergency Department",
             "Emergency Medicine", 2, "20:00", "08:00", "110.00", 1, "EMERGENCY", "London", 4,
             ("ALS", "trauma care"), "12"),
    DutyPlan("Helen", "Paediatric Ward Staff Nurse", ST_MARYS, "Paediatrics",
             "Paediatric Nursing", 2, "19:30", "07:30", "48.50", 1, "NORMAL", "London", 2,
             ("paediatric life support",), "12"),
    DutyPlan("Helen", "Maternity Night Midwife Cover", ST_MARYS, "Obstetrics", "Midwifery",
             3, "21:00", "07:00", "52.00", 1, "NORMAL", "London", 2, ("neonatal resuscitation",),
             "10"),
    DutyPlan("Helen", "Weekend Surgical Registrar (morning list)", ST_MARYS, "General Surgery",
             "General Surgery", 4, "08:00", "12:30", "120.00", 1, "NORMAL", "London", 5,
             ("laparoscopic surgery",), "4.5"),
    DutyPlan("Rahul", "Night Nurse, Acute Medical Unit", NORTHGATE, "Acute Medical Unit",
             "Acute Medicine Nursing", 1, "20:00", "08:00", "46.00", 2, "URGENT", "Leeds", 2,
             ("IV cannulation",), "12"),
    DutyPlan("Rahul", "Stroke Unit Night Registrar", NORTHGATE, "Stroke Unit", "Neurology",
             3, "22:30", "07:30", "98.00", 1, "URGENT", "Leeds", 4, ("stroke thrombolysis",),
             "9"),
    DutyPlan("Rahul", "Resus Nurse, Emergency Backfill", NORTHGATE, "Emergency Department",
             "Emergency Nursing", 1, "23:00", "07:00", "62.50", 1, "EMERGENCY", "Leeds", 3,
             ("ALS",), "8"),
    DutyPlan("Rahul", "Anaesthetics Twilight On-Call", NORTHGATE, "Theatres", "Anaesthesia",
             5, "17:00", "23:00", "105.00", 1, "NORMAL", "Leeds", 4, ("airway management",),
             "6"),
    DutyPlan("Rahul", "Night Sister, Cardiology Ward", NORTHGATE, "Cardiology",
             "Cardiac Nursing", 6, "20:00", "08:00", "55.00", 2, "NORMAL", "Leeds", 5,
             ("telemetry",), "12"),
)
OVERNIGHT = 0  # the 22:00 -> 06:00 ICU shift; also filled one accept at a time
RACED = 5  # the acute medical night shift, accepted concurrently

APPLICATIONS: tuple[tuple[str, int], ...] = (
    ("Amara", OVERNIGHT), ("Tomás", OVERNIGHT), ("Daniel", OVERNIGHT),
    ("Grace", RACED), ("Jonas", RACED), ("Fatima", RACED),
    ("Amara", 1), ("Tomás", 1), ("Grace", 2), ("Daniel", 6), ("Jonas", 7), ("Fatima", 9),
)
