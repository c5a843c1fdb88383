service "db" {
  image = "postgres:15",
  health = tcp { port = 5432, interval = "2 seconds" },
}
