service "web" {
  image = "nginx:1.25",
  volumes = { "./nope:/usr/share/nginx/html:ro" },
}
