"""The generic HCL engine: syntax, values, types, expressions, the function library, variables and
user functions. It knows nothing of targets or groups."""
