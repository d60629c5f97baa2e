"""MongoDB backends: model metadata (``metadata``) and model files in GridFS (``gridfs``)."""
