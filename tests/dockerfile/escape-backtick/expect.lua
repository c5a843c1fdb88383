local app = image "app" {
  from = "busybox:1.36",
  workdir "/C:\\app",
  run "echo a     b",
}
return app
