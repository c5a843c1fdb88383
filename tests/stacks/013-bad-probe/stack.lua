service "db" {
  image = "postgres:15",
  health = "pg_isready",
}
