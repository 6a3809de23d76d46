"""Demo content: three API_PULL registrations with subjects, an initial backlog and live streams."""

from __future__ import annotations

import random

import httpx

from monitoring_pipeline.fakes.dnb_emulator.models import RegistrationSpec
from monitoring_pipeline.fakes.dnb_emulator.state import DuplicateRegistration, EmulatorState

DEMO_REFERENCES = ("DEMO_STD", "DEMO_FINANCE", "DEMO_RISK")
_DESCRIPTIONS = {
    "DEMO_STD": "Demo: standard company data changes",
    "DEMO_FINANCE": "Demo: financial statements and ratings",
    "DEMO_RISK": "Demo: risk and compliance events",
}


def seed_demo(
    target: EmulatorState | str,
    *,
    initial: int = 30,
    per_minute: float = 12.0,
    subjects_per_registration: int = 5,
    seed: int | None = None,
) -> list[str]:
    """Create the demo registrations on a state or a running emulator (its base URL); returns references.

    Registrations that already exist are left as they are, so seeding twice is harmless.
    """
    rng = random.Random(seed)
    created = []
    for reference in DEMO_REFERENCES:
        subjects = [f"{rng.randrange(1, 10**9):09d}" for _ in range(subjects_per_registration)]
        body = {
            "reference": reference,
            "description": _DESCRIPTIONS[reference],
            "seedData": True,
            "subjects": subjects,
        }
        if isinstance(target, EmulatorState):
            is_new = _seed_state(target, body, initial, per_minute)
        else:
            is_new = _seed_url(target, body, initial, per_minute)
        if is_new:
            created.append(reference)
    return created


def _seed_state(state: EmulatorState, body: dict[str, object], initial: int, per_minute: float) -> bool:
    spec = RegistrationSpec.from_mapping(body)
    try:
        state.create_registration(spec)
    except DuplicateRegistration:
        return False
    if initial:
        state.generate_notifications(spec.reference, initial)
    state.set_stream(spec.reference, per_minute, None)
    return True


def _seed_url(base_url: str, body: dict[str, object], initial: int, per_minute: float) -> bool:
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=30.0) as client:
        response = client.post("/_emulator/registrations", json=body)
        if response.status_code == 409:
            return False
        response.raise_for_status()
        path = f"/_emulator/registrations/{body['reference']}/notifications"
        if initial:
            client.post(path, json={"generate": initial}).raise_for_status()
        client.post(path, json={"stream": {"per_minute": per_minute}}).raise_for_status()
    return True
