"""One router module per resource; each only parses, calls the registry once, and shapes."""
