"""Routes of the consulting service: public ``/consulting``."""
