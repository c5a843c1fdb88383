service "web" { image = "nginx:1.25", ports = { "8080:80" } }
service "api" {
  image = "nginx:1.25",
  ports = { "127.0.0.1:8080:81" },
}
