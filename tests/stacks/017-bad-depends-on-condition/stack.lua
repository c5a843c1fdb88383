service "db" {
  image = "postgres:15",
  health = tcp(5432),
}

service "api" {
  image = "nginx:1.25",
  depends_on = { db = "ready" },
}
