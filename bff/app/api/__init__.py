"""The BFF's own views: the ``/bff/*`` aggregations the frontend calls."""
