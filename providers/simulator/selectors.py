from datetime import datetime

from django.db.models import QuerySet

from ..models import SimulatorMessage, SimulatorViolation


def violations(
    since: datetime | None = None, *, from_number: str | None = None
) -> QuerySet[SimulatorViolation]:
    """Sends the simulated carrier refused for exceeding a sender's MPS."""
    qs = SimulatorViolation.objects.all()
    if since is not None:
        qs = qs.filter(at__gte=since)
    if from_number is not None:
        qs = qs.filter(from_number=from_number)
    return qs


def sent_messages(
    since: datetime | None = None, *, from_number: str | None = None
) -> QuerySet[SimulatorMessage]:
    """The simulated carrier's send log."""
    qs = SimulatorMessage.objects.all()
    if since is not None:
        qs = qs.filter(accepted_at__gte=since)
    if from_number is not None:
        qs = qs.filter(from_number=from_number)
    return qs
