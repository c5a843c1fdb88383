service "web" {
  image = "nginx:1.25",
  ports = "8080:80",
}
