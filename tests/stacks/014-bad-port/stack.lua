service "web" {
  image = "nginx:1.25",
  ports = { "80:80", "8443:443/sctp" },
}
