"""What a container caches (settings, clients, connections, secrets, health), and the one way to
forget it all: for tests and the local runtime, which change the environment under a process."""

from __future__ import annotations


def forget_all() -> None:
    from closeloop import aws, idempotency, secrets
    from closeloop.mail import pacing
    from closeloop.models import reset_connections
    from closeloop.services import health, mailer, sending, taxonomy
    from closeloop.settings import get_settings

    get_settings.cache_clear()
    aws.reset()
    reset_connections()
    secrets.forget()
    health.forget()
    sending.forget()
    pacing.forget()
    idempotency.forget()
    taxonomy.forget()
    mailer.forget()
