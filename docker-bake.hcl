# bake's own bake file: the demo builds every example project.
variable "TAG" {
  default = "dev"
}

group "default" {
  description = "every example project"
  targets     = ["node-test", "node-production", "go-hello", "release"]
}

target "node-test" {
  description = "the Node monorepo's test stage"
  context     = "examples/node-monorepo"
  target      = "test"
  output      = ["type=cacheonly"]
}

target "node-production" {
  description = "the Node monorepo's production image"
  context     = "examples/node-monorepo"
  target      = "production"
  tags        = ["bake-demo/web:${TAG}"]
}

target "go-hello" {
  description = "a cross-compiled binary built on $BUILDPLATFORM"
  context     = "examples/go-cross"
  platforms   = ["linux/amd64", "linux/arm64"]
  tags        = ["bake-demo/hello:${TAG}"]
}

target "release" {
  description = "a matrix of services and distros"
  name        = "release-${svc}"
  matrix = {
    svc = ["api", "worker"]
  }
  context    = "examples/matrix-release/${svc}"
  dockerfile = "../Dockerfile"
  args = {
    SERVICE = svc
    DISTRO  = "busybox"
  }
  tags = ["bake-demo/${svc}:${TAG}"]
}
