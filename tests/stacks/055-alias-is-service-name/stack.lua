service "web" { image = "nginx:1.25" }
service "proxy" {
  image = "nginx:1.25",
  aliases = { "web" },
}
