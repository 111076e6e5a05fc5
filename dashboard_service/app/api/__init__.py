"""Routes of the dashboard service: public ``/dashboard`` and ``/internal/stores`` (consulting)."""
