# A Node monorepo: one Dockerfile, five stages, each a target; test and production share deps.
variable "NODE_VERSION" {
  default = "20"
}

variable "TAG" {
  default = "dev"
  validation {
    condition     = TAG != ""
    error_message = "TAG must not be empty."
  }
}

group "default" {
  targets = ["test", "production"]
}

target "_base" {
  dockerfile = "Dockerfile"
  args = {
    NODE_VERSION = NODE_VERSION
  }
  labels = {
    "org.opencontainers.image.source" = "https://example.com/monorepo"
  }
}

target "deps" {
  inherits = ["_base"]
  target   = "deps"
}

target "test" {
  inherits = ["_base"]
  target   = "test"
  output   = ["type=cacheonly"]
}

target "builder" {
  inherits = ["_base"]
  target   = "builder"
}

target "production" {
  inherits  = ["_base"]
  target    = "production"
  tags      = ["registry.example.com/web:${TAG}", "registry.example.com/web:latest"]
  platforms = ["linux/amd64", "linux/arm64"]
}
