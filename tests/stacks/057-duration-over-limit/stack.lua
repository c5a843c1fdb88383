service "db" {
  image = "postgres:15",
  health = tcp { port = 5432, timeout = 1e300 },
}
