"""Unsafe-model scanning: a :class:`~model_service.domain.scanning.ModelScanner` that reads each
uploaded file in a separate, resource-capped process (``child.py``) and never loads it.

Kept light on purpose: the scanner process imports ``model_service.scanner.child``, which should
not pull in the server. The implementation is in ``service.py``.
"""
