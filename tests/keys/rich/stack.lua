-- Every kind of node and step the keys cover (tests/props/golden-keys.sh):
-- the keys printed for this stack must never change unless KEY_FORMAT does.
project "rich"
secret "tok" { file = "token.txt" }
local base = image "base" { from = rootfs { tar = "base.tar" }, env = { A = "1" }, labels = { team = "x" } }
local built = rootfs { command = "mkdir -p \"$out/etc\" && echo hi >\"$out/etc/hi\"", inputs = { "req.txt" }, epoch = "2026-01" }
local other = image "other" { from = built, user "nobody", workdir "/w" }
local deps = image "deps" {
  from = base,
  workdir "/app",
  copy "req.txt",
  run { "echo deps", cache = { "/root/.cache/pip" }, env = { X = "y" } },
  run { "cat /run/secrets/tok >/dev/null", secrets = { tok = "/run/secrets/tok" } },
}
local app = image "app" {
  from = deps,
  copy { "src/", to = "/app/src/" },
  env { MODE = "prod" },
  ignore = { "**/util.py" },
  cmd = { "python3", "main.py" },
  entrypoint = "exec \"$@\"",
  expose = { 8000 },
}
local slim = image "slim" { from = other, copy { from = app, "/app", to = "/app" }, cmd = "python3 /app/src/main.py" }
local legacy = image "legacy" { context = "legacy", dockerfile = "Dockerfile", args = { WHO = "me" } }
local pulled = image "pulled" { from = "busybox:1.36", run "true" }
service "api" { image = app, ports = { "8000:8000" }, health = http { port = 8000, path = "/health" } }
service "job" { image = slim, oneshot = true, depends_on = { api = "healthy" } }
service "old" { image = legacy, depends_on = { "job" } }
service "p" { image = pulled }
