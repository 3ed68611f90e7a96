"""The scheduler: nightly jobs, one leader, idempotent per business date."""
