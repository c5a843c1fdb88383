service "db" {
  image = "postgres:15",
  health = tcp { port = 5432, interval = -1 },
}
