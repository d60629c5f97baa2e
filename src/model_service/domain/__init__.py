"""The registry's core: typed records, rules and the storage ports. No HTTP, no SQL, no I/O."""
