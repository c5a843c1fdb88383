service "web" {
  image = "nginx:1.25",
  ports = { "080:0080" },
}
