"""Operations tooling on top of the registry's ports: export and import archives, copies between
stores, garbage collection, the integrity scrub and retention. These read and write files and
walk whole stores; the core (:mod:`model_service.domain`) stays free of such I/O."""
