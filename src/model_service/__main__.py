"""``python -m model_service`` is the ``model-service`` command."""

from .cli.main import main

if __name__ == "__main__":  # `python -m model_service`; importing this module runs nothing
    main()
