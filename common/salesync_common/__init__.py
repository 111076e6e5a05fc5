"""What every Salesync service shares, and nothing else.

Modules: settings, app (factory helpers), errors, auth (JWT), api (validation + OpenAPI),
db, http (service client), logging, metrics, health, idempotency, outbox, kafka, bus, timeutil.
"""
