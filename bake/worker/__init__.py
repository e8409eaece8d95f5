"""The embedded worker: what executes graph ops on this machine (local sources so far)."""
