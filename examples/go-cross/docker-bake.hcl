# Cross-compilation: the build stage runs on $BUILDPLATFORM, the result ships for every target platform.
variable "VERSION" {
  default = "0.1.0"
}

variable "PLATFORMS" {
  type    = list(string)
  default = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
}

function "image" {
  params = [name]
  result = "example/${name}:${VERSION}"
}

target "default" {
  description = "the hello binary for every platform"
  platforms   = PLATFORMS
  args = {
    VERSION = VERSION
  }
  tags = [image("hello"), "example/hello:latest"]
}

target "binaries" {
  inherits = ["default"]
  target   = "binaries"
  output   = ["type=local,dest=./bin"]
}
