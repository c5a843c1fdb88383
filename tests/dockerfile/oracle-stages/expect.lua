local app_base = image "app-base" {
  from = "busybox:1.36",
  env { BASE_ENV = "1" },
  workdir "/work",
}
local app_build = image "app-build" {
  from = app_base,
  copy { "lib.txt", to = "/work/" },
  run "cat lib.txt lib.txt > built.txt && ln -s built.txt link.txt",
}
local app = image "app" {
  from = app_base,
  copy { from = app_build, "/work/built.txt", to = "/out/" },
  copy { from = app_build, "/work", to = "/out/work" },
  copy { from = app_base, "/etc/passwd", to = "/copied-passwd" },
  entrypoint = { "/bin/cat" },
  cmd = { "/out/built.txt" },
}
return app
