"""Root pytest configuration: the shared fixtures live in devstack.testing."""

pytest_plugins = ["devstack.testing"]
