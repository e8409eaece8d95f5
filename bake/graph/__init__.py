"""The build graph: pure ops and vertices (``ops``), their digests (``digest``), a builder (``state``)."""
