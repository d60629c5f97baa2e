"""The ``model-service`` command."""
