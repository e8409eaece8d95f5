"""The OCI distribution client: references, auth, pulls and pushes over httpx."""
