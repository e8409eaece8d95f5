"""What a bake file means: targets, groups, matrix, ``inherits``, ``--set``, compose, and ``--print``,
built on the generic engine (``bake.hcl.engine``)."""
