"""TensorFleet Model Service: a self-hosted registry for trained ML models."""

__version__ = "0.1.0"
