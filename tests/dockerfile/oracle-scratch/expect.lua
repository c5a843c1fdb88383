local app_tools = image "app-tools" {
  from = "busybox:1.36",
  run "mkdir -p /out/etc && echo \"app:x:1000:1000::/:/nonexistent\" > /out/etc/passwd",
}
local app = image "app" {
  from = "scratch",
  env { PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
  copy { from = app_tools, "/out/etc/passwd", to = "/etc/passwd" },
  copy { "hello.txt", to = "/srv/" },
  copy { "hello.txt", to = "/srv/again.txt" },
  env { GREETING = "hi" },
  user "1000",
  entrypoint = { "/hello" },
  cmd = { "--serve" },
  expose = { 8080 },
  volumes = { "/data", "/cache", "/logs" },
  stop_signal = "SIGINT",
  healthcheck = { "CMD", "/hello", "--check", interval = "5s", timeout = "2s", retries = 2 },
}
return app
