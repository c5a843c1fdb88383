local app_a = image "app-a" {
  from = "busybox:1.36",
  cmd = { "inherited" },
}
local app = image "app" {
  from = app_a,
  run { { "/bin/sh", "-e", "-c", "echo with shell > /s" } },
  entrypoint = { "/bin/sh", "-e", "-c", "echo hi" },
  cmd = {},
}
return app
