"""Reading bake files (HCL, HCL-JSON, compose) up to the resolved plan; see ``loader.Project``."""
