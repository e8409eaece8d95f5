# A release pipeline: one target per (service, distro), tagged from the version and a sanitized branch.
variable "VERSION" {
  type    = string
  default = "1.4.2"
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", VERSION))
    error_message = "VERSION must be MAJOR.MINOR.PATCH."
  }
}

variable "BRANCH" {
  default = "feature/new-ui"
}

variable "REGISTRY" {
  default = "registry.example.com"
}

function "tags" {
  params = [svc, distro]
  result = [
    "${REGISTRY}/${svc}:${VERSION}-${distro}",
    "${REGISTRY}/${svc}:${join(".", slice(split(".", VERSION), 0, 2))}-${distro}",
    "${REGISTRY}/${svc}:${sanitize(BRANCH)}-${distro}",
  ]
}

group "default" {
  targets = ["release"]
}

target "release" {
  name = "${svc}-${distro}"
  matrix = {
    svc    = ["api", "worker"]
    distro = ["alpine", "debian"]
  }
  context    = "./${svc}"
  dockerfile = "../Dockerfile"
  args = {
    DISTRO  = distro
    SERVICE = svc
  }
  tags      = tags(svc, distro)
  platforms = distro == "alpine" ? ["linux/amd64", "linux/arm64"] : ["linux/amd64"]
  labels = {
    "org.opencontainers.image.version" = VERSION
    "org.opencontainers.image.title"   = "${title(svc)} (${distro})"
  }
  cache-from = ["type=registry,ref=${REGISTRY}/${svc}:cache-${distro}"]
  cache-to   = ["type=registry,ref=${REGISTRY}/${svc}:cache-${distro},mode=max"]
}
