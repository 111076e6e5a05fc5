"""Routes of the order service: public ``/orders`` and ``/internal/stores/<sid>/...``."""
