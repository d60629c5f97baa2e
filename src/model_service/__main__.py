"""``python -m model_service`` is the ``model-service`` command."""

from .cli.main import main

main()
