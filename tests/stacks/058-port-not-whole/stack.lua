service "web" {
  image = "nginx:1.25",
  ports = { 80.5 },
}
