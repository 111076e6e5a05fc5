"""Routes of the sale service: public ``/sales`` and ``/internal/stores`` for sibling services."""
