secret "token" { env = "GRAPHBUILD_TEST_UNSET_TOKEN" }

image "app" {
  from = "alpine:3.19",
  run { "fetch-private-deps", secrets = { token = "/run/secrets/token" } },
}
