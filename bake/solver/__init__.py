"""The generic solver: schedules vertices through small protocols and never learns what an op is."""
