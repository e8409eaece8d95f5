"""Reading bake files (HCL, HCL-JSON, compose) up to the resolved plan, in two layers:

- ``engine/``: a generic HCL engine (syntax, values, types, expressions, the function library,
  variables and user functions) that knows nothing of targets or groups;
- ``bakefile/``: what a bake file means (targets, groups, matrix, ``inherits``, ``--set``, compose,
  ``--print``), reaching the engine through its hooks; start at ``bakefile.loader.Project``.
"""
