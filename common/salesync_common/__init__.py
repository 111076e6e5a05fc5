"""What every Salesync service shares, and nothing else.

The service: settings, app (the factory: edge wiring, /healthz /readyz /metrics /openapi.json,
/docs), serve and gunicorn_conf (running it), routing (the public route table), cors, ratelimit,
errors (the one error shape), context (request id, store, service of a log line), logging,
metrics. Requests: auth (JWT user and service tokens), permissions (roles), api (the ``endpoint``
decorator: validation), openapi (the document built from it), types (pydantic field types),
idempotency, pricing (integer won), timeutil (business days). Data: db, tables (idempotency and
outbox tables), migrate (Alembic). Between services: http (service client, also in process),
outbox, events, bus (in process), kafka, kafka_topics.
"""
