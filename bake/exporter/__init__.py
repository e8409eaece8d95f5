"""Exporters: turn built filesystems into what a target's ``output`` asks for."""
