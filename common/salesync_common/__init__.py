"""What every Salesync service shares, and nothing else.

Modules: settings, app (the factory, with the edge: CORS, client IP, rate limits), routing (the
public route table), cors, ratelimit, errors, auth (JWT), api (validation + OpenAPI), db, http
(service client, also in process), logging, metrics, idempotency, outbox, kafka, bus, timeutil.
"""
