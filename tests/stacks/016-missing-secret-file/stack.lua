secret "npm" { file = "npm-token.txt" }

image "web" {
  from = "node:20",
  copy "package.json",
  run { "npm install", secrets = { npm = "/root/.npmrc" } },
}
