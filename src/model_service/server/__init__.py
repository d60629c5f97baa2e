"""The HTTP layer: FastAPI routers that parse, call the registry once, and shape the response."""
