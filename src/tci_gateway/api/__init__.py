"""The HTTP API (``tci serve``): the gateway's services under ``/v1`` for the ERP and the
risk team, with scoped API keys, idempotency keys, an audit trail, problem+json errors,
health, readiness and metrics. Thin: every route calls a service; no business rule lives
here. See ``docs/api.md``."""
