service "db" {
  image = "postgres:15",
  volumes = { "pgdata:var/lib/postgresql/data" },
}
