service "web" {
  image = "nginx:1.25",
  health = http { port = 80, path = "/a b\r\nX: y" },
}
