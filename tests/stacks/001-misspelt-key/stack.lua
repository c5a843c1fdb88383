project "shop"

service "db" {
  image = "postgres:15",
  health = tcp(5432),
}

service "api" {
  image = "nginx:1.25",
  ports = { "8000:80" },
  depend_on = { db = "healthy" },
}
