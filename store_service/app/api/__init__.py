"""Routes of the store service: public ``/stores`` and ``/internal/stores`` for sibling services."""
