local app_deps = image "app-deps" {
  from = "gb-python",
  workdir "/app",
  copy { "requirements.txt", to = "/app/" },
  run { "pip install -r requirements.txt", cache = { "/root/.cache/pip" }, secrets = { pypi_token = "/run/secrets/pypi_token" } },
}
local app = image "app" {
  from = app_deps,
  copy { ".", to = "/app/" },
  cmd = { "python3", "-m", "app" },
}
return app
