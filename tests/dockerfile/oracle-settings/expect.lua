local app_base = image "app-base" {
  from = "busybox:1.36",
  run { "echo base > /base.txt", env = { DATA = "/var/lib/app" } },
  volumes = { "/var/lib/app" },
  stop_signal = "SIGQUIT",
  healthcheck = { "CMD-SHELL", "test -f /ready || exit 1" },
}
local app_quiet = image "app-quiet" {
  from = app_base,
  run "echo quiet > /quiet.txt && echo kept > /var/lib/app/lost.txt",
  healthcheck = { "NONE" },
}
local app = image "app" {
  from = app_quiet,
  env { SIG = "9" },
  run "echo final > /final.txt",
  cmd = { "sleep", "3600" },
  volumes = { "/srv/a", "/srv/b" },
  stop_signal = "9",
  healthcheck = { "CMD-SHELL", "wget -q -O- http://localhost:8080/health", interval = "30s", timeout = "1m30s", start_period = "2s", retries = 5 },
}
return app
