"""One module per storage backend, each giving fixtures that make fresh, empty stores of it.

A backend module defines ``<backend>_metadata_factory`` and/or ``<backend>_blob_factory``
fixtures: callables ``factory(name, *, prepared=True)`` returning a new empty store (``name``
tells apart several stores in one test; ``prepared=False``: a metadata store whose schema was
never created). A metadata backend also defines ``<backend>_module_metadata_factory``, the
same made once per test module, for stores that a module's read-only tests share. The contract
suites (``tests/contract``) run once per backend listed in their conftest; ``tests/conftest.py``
loads these modules as pytest plugins.
"""
