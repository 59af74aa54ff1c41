"""An example pytest-compress extension; the entry points in pyproject.toml name its modules."""
