service "web" {
  image = "nginx:1.25",
  ports = { "18080:80", "18080:81" },
}
