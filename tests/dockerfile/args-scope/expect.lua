local app = image "app" {
  from = "python:3.11-slim",
  env { VERSION = "2.0", LABELLED = "on" },
  run { "echo $VERSION $BUILD_ONLY", env = { BUILD_ONLY = "yes" } },
  labels = { version = "2.0", flavour = "none" },
}
return app
