"""Routes of the item service: public ``/categories`` and ``/internal/stores/<sid>/...``."""
