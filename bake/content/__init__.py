"""Content-addressed storage: sha256 blobs with atomic writes and verified reads."""
