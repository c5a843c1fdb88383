image "web" {
  from = "node:20",
  run { "npm install", secrets = { "npm" } },
}
